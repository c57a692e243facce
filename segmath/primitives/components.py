"""Connected components and the two nearest objects of every pixel (U-Net's border weights), per backend."""
from __future__ import annotations

import math

import numpy as np

from .arrays import is_torch
from .grid import _host_torch, _ndimage, _split, _structure, _torch, neighbour_offsets

__all__ = ["label", "label_schedule", "two_nearest"]


def label(mask, ndim: int, connectivity: int = 1):
    r"""Connected components of a bool mask over its last ``ndim`` axes.

    Returns int64 labels: 0 on the background and, on every component, the smallest
    flat (row-major) index of its elements within the image plus one, so ids are
    distinct per image but not consecutive on torch (NumPy: SciPy's consecutive ids).
    Neighbours are those of :func:`~segmath.primitives.grid.neighbour_offsets` (SciPy's
    structuring element of rank ``connectivity``).

    **The torch path runs a number of rounds fixed by the shape** -- no data-dependent
    loop, so it traces whole under ``torch.compile(fullgraph=True)`` and reads nothing
    back on an accelerator.  It is a hooking-and-shortcutting forest (after Shiloach &
    Vishkin, 1982, and Awerbuch & Shiloach, 1987): every element points to a parent,
    a root points to itself, and every round starts from *stars* (every element points
    straight at its root, initially itself):

    1. *conditional hooking*: every root ``r`` whose star touches (has an element with a
       foreground neighbour in) a star with a smaller root hooks onto the smallest such
       root;
    2. *unconditional hooking*: a root that neither hooked nor was hooked onto in step 1
       (*stagnant*) and touches another star hooks onto the largest root it touches;
    3. *shortcutting*: ``parent <- parent[parent]``, ``J_k`` times in round ``k``.

    Let ``n`` be the number of elements of one image and ``t_k = floor(n / 2^k)``.  The
    torch path runs ``K = floor(log2 n)`` rounds with ``J_k = ceil(log2 t_k)``
    shortcuts in round ``k`` (``J_k <= K - k + 1``, so at most ``K (K + 3) / 2`` gathers in all).

    *Claim.* At the start of round ``k`` the parent pointers form stars, every star
    lies inside one component, and a component ``C`` holds at most ``max(1, t_k)``
    stars; hence after round ``K - 1`` (``t_K = 1``) every component is one star.

    *Proof* by induction on ``k``; at ``k = 0`` every element is its own star and
    ``|C| <= n = t_0``.  Take a round that starts from stars.

    * *No cycle.*  Step 1 only points roots at strictly smaller roots.  A stagnant root
      ``s`` touches only larger roots (else it would have hooked in step 1), and each
      star ``r`` that it touches hooked in step 1 (``s < r`` is a smaller root that
      ``r`` touches).  So step 2 points ``s`` at a non-root of a tree built in step 1;
      no stagnant root belongs to such a tree (none points or is pointed at in step 1)
      and step 2 changes no other pointer, so from ``s`` the pointers lead into that tree
      and up to its root: no cycle is closed.  Hooks follow edges, so every tree stays
      inside one component.
    * *Halving.*  Let ``C`` hold ``t >= 2`` stars; ``C`` is connected, so every star
      of ``C`` touches another.  Each star therefore either hooked in step 1, was hooked
      onto in step 1, or is stagnant and hooks in step 2 onto a tree that already holds
      two stars.  Trees only merge, so every tree of ``C`` after the round holds at least
      two of its old stars: at most ``floor(t / 2) <= floor(t_k / 2) = t_{k+1}`` trees.
      If ``t = 1`` the star touches no other star and nothing changes.
    * *Depth.*  A tree of ``C`` joins at most ``t <= t_k`` old roots, so its roots sit at
      depth at most ``t_k - 1`` and the other elements (one below their old root) at
      most ``t_k``.  After ``j`` shortcuts every element points at its ancestor
      ``min(2^j, depth)`` levels up, so ``J_k = ceil(log2 t_k)`` shortcuts turn every
      tree into a star again.  (A component with ``t_k = 1`` is already a star.)  QED

    The per-star minimum and maximum are segment reductions (``scatter_reduce``) over
    the elements' neighbour roots.  A final segment minimum names every component by its
    smallest index.  On CPU tensors outside ``torch.compile`` (under
    ``cpu_backend("torch")``) the rounds stop as soon as one hooks nothing (the forest is
    then final; the bool read is free on a host): the result is the same.

    CPU tensors outside ``torch.compile`` take SciPy's ``ndimage.label`` by default (see
    :func:`~segmath.primitives.grid.cpu_backend`), renamed to the same ids.
    """
    batch, spatial = _split(tuple(mask.shape), ndim)
    if is_torch(mask) and not _host_torch(mask):
        return _label_torch(mask, ndim, connectivity, spatial)
    m = (mask.detach().numpy() if is_torch(mask) else np.asarray(mask)).astype(bool).reshape((-1,) + spatial)
    out = np.zeros(m.shape, dtype=np.int64)
    for b in range(m.shape[0]):
        ref = _ndimage().label(m[b], structure=_structure(ndim, connectivity, ndim))[0]
        out[b] = _first_index(ref) if is_torch(mask) else ref
    out = out.reshape(tuple(mask.shape))
    return _torch().from_numpy(out) if is_torch(mask) else out


def _first_index(ref):
    """SciPy's consecutive labels renamed as the torch path names them: smallest flat index + 1."""
    flat = ref.reshape(-1)
    values, first = np.unique(flat, return_index=True)
    names = np.zeros(int(values[-1]) + 1, dtype=np.int64)
    names[values] = first + 1
    names[0] = 0
    return names[flat].reshape(ref.shape)


def label_schedule(n: int):
    """Shortcuts per round of the torch labelling for images of ``n`` elements: ``[J_0, ..., J_{K-1}]``."""
    return [((n >> k) - 1).bit_length() for k in range(max(0, n.bit_length() - 1))]


def _label_torch(mask, ndim, connectivity, spatial, rounds=None):
    """The torch path of :func:`label`; ``rounds`` cuts the schedule short (to test the proof's claim)."""
    torch = _torch()
    dev = mask.device
    m = mask.reshape((-1,) + spatial).to(torch.bool)
    images, n = m.shape[0], math.prod(spatial)
    total = images * n
    ids = torch.arange(total, device=dev)
    fg = m.reshape(-1)
    offsets = neighbour_offsets(ndim, connectivity)
    pad = [1, 1] * ndim
    lead = (slice(None),)
    views = [lead + tuple(slice(1 + o, 1 + o + s) for o, s in zip(off, spatial)) for off in offsets]
    early = dev.type == "cpu" and not torch.compiler.is_compiling()
    parent = ids
    for jumps in label_schedule(n)[:rounds]:
        roots = parent.reshape(m.shape)
        low = torch.nn.functional.pad(torch.where(m, roots, total), pad, value=total)
        high = torch.nn.functional.pad(torch.where(m, roots, -1), pad, value=-1)
        nmin, nmax = low[views[0]], high[views[0]]
        for v in views[1:]:
            nmin = torch.minimum(nmin, low[v])
            nmax = torch.maximum(nmax, high[v])
        nmin = torch.where(m, nmin, total).reshape(-1)
        nmax = torch.where(m, nmax, -1).reshape(-1)
        smallest = ids.scatter_reduce(0, parent, nmin, "amin", include_self=True)   # per root: min(r, touched)
        largest = ids.scatter_reduce(0, parent, nmax, "amax", include_self=True)
        hook = smallest < ids                                  # step 1 (only roots can: others keep ids)
        onto = torch.zeros(total + 1, dtype=torch.bool, device=dev)
        onto = onto.scatter(0, torch.where(hook, smallest, total), True)[:total]
        stagnant = (parent == ids) & ~hook & ~onto
        hook2 = stagnant & (largest > ids)                     # step 2
        if early and not bool((hook | hook2).any()):
            break
        parent = torch.where(hook, smallest, torch.where(hook2, largest, parent))
        for _ in range(jumps):                                  # step 3
            parent = parent.gather(0, parent)
    first = ids.scatter_reduce(0, parent, ids, "amin", include_self=True).gather(0, parent)
    first = first - (ids // n) * n + 1
    return torch.where(fg, first, 0).reshape(tuple(mask.shape))


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

