"""Connected components and the two nearest objects of every pixel (U-Net's border weights), per backend."""
from __future__ import annotations

import itertools
import math

import numpy as np

from .arrays import is_torch
from .grid import _ndimage, _split, _structure, _torch, neighbour_offsets
from .morphology import _shifted

__all__ = ["label", "two_nearest"]


def label(mask, ndim: int, connectivity: int = 1):
    """Connected components of a bool mask over its last ``ndim`` axes.

    Returns int64 labels: 0 on the background and one positive id per component (ids
    are distinct per image but not consecutive on torch).  The torch path propagates
    the maximum id to the neighbours and jumps pointers (label <- label of the pixel it
    names) until nothing changes; convergence is checked every 8 rounds (the only
    host read, as the number of rounds depends on the shapes).
    """
    batch, spatial = _split(tuple(mask.shape), ndim)
    if not is_torch(mask):
        m = np.asarray(mask, bool).reshape((-1,) + spatial)
        out = np.zeros(m.shape, dtype=np.int64)
        for b in range(m.shape[0]):
            out[b] = _ndimage().label(m[b], structure=_structure(ndim, connectivity, ndim))[0]
        return out.reshape(mask.shape)
    torch = _torch()
    m = mask.reshape((-1,) + spatial)
    size = math.prod(spatial)
    ids = torch.arange(1, size + 1, device=mask.device).reshape((1,) + spatial).expand(m.shape)
    lab = torch.where(m, ids, 0)
    offsets = neighbour_offsets(ndim, connectivity)
    flat_lab = lab.reshape(m.shape[0], -1)
    for step in itertools.count():
        prev = lab
        for o in offsets:
            lab = torch.maximum(lab, _shifted(None, prev, ndim, o, 0))
        lab = torch.where(m, lab, 0)
        flat_lab = lab.reshape(m.shape[0], -1)
        jumped = flat_lab.gather(1, (flat_lab - 1).clamp(min=0))
        lab = torch.where(m, torch.maximum(lab, jumped.reshape(lab.shape)), 0)
        if step % 8 == 7 and torch.equal(lab, prev):
            break
    return lab.reshape(tuple(mask.shape))


def two_nearest(labels, spacing, ndim: int, dtype=None):
    """Distances ``(d1, d2)`` from every element to the nearest and the second-nearest object.

    ``labels`` holds 0 for the background and one id per object.  ``d1`` is 0 on an
    object; ``d2`` is the distance to the nearest *other* object (``inf`` when an image
    has fewer than two).  NumPy: one SciPy EDT per object.  torch: an exact separable
    transform that carries the best two (distance, object) pairs with distinct objects
    along each axis (dense min-plus per line, chunked) -- keeping two per stage suffices
    because the best object other than the overall best is among each line's best two.
    """
    batch, spatial = _split(tuple(labels.shape), ndim)
    if not is_torch(labels):
        return _two_nearest_numpy(labels, spacing, ndim, spatial)
    return _two_nearest_torch(labels, spacing, ndim, spatial, dtype)


def _two_nearest_numpy(labels, spacing, ndim, spatial):
    lab = np.asarray(labels).reshape((-1,) + spatial)
    d1 = np.full(lab.shape, np.inf)
    d2 = np.full(lab.shape, np.inf)
    for b in range(lab.shape[0]):
        for k in np.unique(lab[b][lab[b] > 0]):           # SciPy path: one EDT per object
            d = _ndimage().distance_transform_edt(lab[b] != k, sampling=spacing)
            d2[b] = np.minimum(d2[b], np.maximum(d1[b], d))
            d1[b] = np.minimum(d1[b], d)
    return d1.reshape(labels.shape), d2.reshape(labels.shape)


def _two_nearest_torch(labels, spacing, ndim, spatial, dtype=None):
    torch = _torch()
    dt = torch.get_default_dtype() if dtype is None else dtype
    lab = labels.reshape((-1,) + spatial).to(torch.int64)
    inf = math.inf
    v1 = torch.where(lab > 0, 0.0, inf).to(dt)
    v2 = torch.full_like(v1, inf)
    l1, l2 = lab.clone(), torch.zeros_like(lab)
    for axis in range(ndim):
        ax = axis + 1
        parts = [t.movedim(ax, -1) for t in (v1, v2, l1, l2)]
        shape = parts[0].shape
        flat = [t.reshape(-1, shape[-1]) for t in parts]
        res = _top2_lines(*flat, float(spacing[axis]) ** 2)
        v1, v2, l1, l2 = (t.reshape(shape).movedim(-1, ax) for t in res)
    return v1.sqrt().reshape(labels.shape), v2.sqrt().reshape(labels.shape)


def _top2_lines(v1, v2, l1, l2, w, budget=1 << 22):
    """Best two distinct-object squared distances along lines (L, n), dense min-plus in chunks."""
    torch = _torch()
    lines, n = v1.shape
    dev, dt = v1.device, v1.dtype
    pos = torch.arange(n, device=dev, dtype=dt)
    cost = w * (pos[:, None] - pos[None, :]) ** 2                  # (i, j)
    cost = torch.cat([cost, cost], dim=1)                          # candidates j and j' (second)
    chunk = max(1, budget // (2 * n * n))
    outs = []
    for a in range(0, lines, chunk):                               # memory stays O(chunk n^2)
        vals = torch.cat([v1[a:a + chunk], v2[a:a + chunk]], dim=1)[:, None, :] + cost[None]
        labs = torch.cat([l1[a:a + chunk], l2[a:a + chunk]], dim=1)[:, None, :].expand_as(vals)
        vals = torch.where(labs > 0, vals, math.inf)
        b1, i1 = vals.min(dim=2)
        lb1 = labs.gather(2, i1[..., None])[..., 0]
        other = torch.where(labs != lb1[..., None], vals, math.inf)
        b2, i2 = other.min(dim=2)
        lb2 = labs.gather(2, i2[..., None])[..., 0]
        lb1 = torch.where(torch.isfinite(b1), lb1, 0)
        lb2 = torch.where(torch.isfinite(b2), lb2, 0)
        outs.append((b1, b2, lb1, lb2))
    return tuple(torch.cat([o[i] for o in outs], dim=0) for i in range(4))

