"""Binary erosion and dilation, box means and far shifts, per backend (SciPy on NumPy, pure torch on tensors)."""
from __future__ import annotations


import numpy as np

from .arrays import is_torch
from .grid import _host_torch, _ndimage, _structure, _torch, neighbour_offsets

__all__ = ["erode", "dilate", "box_mean"]


def _shifted(xp, x, ndim, offset, fill):
    """``x`` shifted by ``offset`` over its last ``ndim`` axes; entries from outside are ``fill``."""
    rank = x.ndim
    pad = [(0, 0)] * (rank - ndim) + [(1, 1)] * ndim
    if is_torch(x):
        torch = _torch()
        flat_pad = [p for pair in reversed(pad[rank - ndim:]) for p in pair]
        padded = torch.nn.functional.pad(x, flat_pad, value=fill)
    else:
        padded = np.pad(x, pad, constant_values=fill)
    index = (slice(None),) * (rank - ndim) + tuple(
        slice(1 + o, 1 + o + n) for o, n in zip(offset, x.shape[rank - ndim:]))
    return padded[index]


def _views(x, ndim, offsets):
    """Views of ``x`` (torch) shifted by each offset over its last ``ndim`` axes, zero from outside.

    One padded copy serves every offset (a pad per offset costs as much as the whole erosion).
    """
    torch = _torch()
    rank = x.ndim
    padded = torch.nn.functional.pad(x, [1, 1] * ndim, value=0)
    lead = (slice(None),) * (rank - ndim)
    return [padded[lead + tuple(slice(1 + o, 1 + o + n) for o, n in zip(off, x.shape[rank - ndim:]))]
            for off in offsets]


def _morph(mask, ndim, connectivity, grow):
    """Binary dilation (``grow``) or erosion of a bool mask over its last ``ndim`` axes."""
    if _host_torch(mask):                                  # SciPy is ~10x faster than shifted views on a CPU
        return _torch().from_numpy(_morph(mask.detach().numpy(), ndim, connectivity, grow))
    if is_torch(mask):
        torch = _torch()
        combine = torch.maximum if grow else torch.minimum
        out = mask.to(torch.uint8)
        for view in _views(out, ndim, neighbour_offsets(ndim, connectivity)):
            out = combine(out, view)
        return out.bool()
    structure = _structure(ndim, connectivity, mask.ndim)
    if grow:
        return _ndimage().binary_dilation(mask, structure=structure)
    return _ndimage().binary_erosion(mask, structure=structure, border_value=0)


def erode(mask, ndim: int, connectivity: int = 1):
    """Binary erosion of a bool mask over its last ``ndim`` axes (outside the image counts as 0)."""
    return _morph(mask, ndim, connectivity, grow=False)


def dilate(mask, ndim: int, connectivity: int = 1):
    """Binary dilation of a bool mask over its last ``ndim`` axes."""
    return _morph(mask, ndim, connectivity, grow=True)


def box_mean(xp, x, ndim: int, size: int):
    """Mean over a ``size``-wide box (odd) around each element of the last ``ndim`` axes.

    Elements outside the image are left out of the mean (the count shrinks at the border).
    Written with shifts in the array API, so it is differentiable on torch.
    """
    r = size // 2
    total, count = x, xp.ones_like(x)
    for axis in range(ndim):
        s, c = total, count
        for o in range(1, r + 1):
            for sign in (-1, 1):
                off = [0] * ndim
                off[axis] = sign * o
                s = s + _shift_far(xp, total, ndim, off)
                c = c + _shift_far(xp, count, ndim, off)
        total, count = s, c
    return total / count


def _shift_far(xp, x, ndim, offset):
    """Shift by an arbitrary integer offset with zero fill (a chain of unit shifts)."""
    out = x
    for axis, o in enumerate(offset):
        for _ in range(abs(o)):
            unit = [0] * ndim
            unit[axis] = 1 if o > 0 else -1
            out = _shifted(xp, out, ndim, unit, 0)
    return out


