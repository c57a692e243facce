"""Selection primitive for hard-example mining: a mask of the k largest values per row.

Lives apart from :mod:`segmath.primitives` (one backend branch, like the others there).
The number kept may differ per row (``ignore_index`` leaves a different number of
counted pixels in each image) and is an array on the input's device, so no host sync
is needed: the rows are sorted once and each element's rank is compared with its row's count.
"""
from __future__ import annotations

import numpy as np

from .arrays import is_torch

__all__ = ["topk_mask"]


def topk_mask(values, counts):
    """Boolean mask of the ``counts[r]`` largest entries of each row of ``values``.

    Args:
        values: ``(R, S)`` real array.  Entries that must never be selected should be
            set to ``-inf`` (or below every other value) by the caller.
        counts: ``(R,)`` integer array, ``0 <= counts[r] <= S``, or one Python int for every row
            (then a partial selection, ``torch.topk`` / ``np.argpartition``, replaces the full sort).

    Returns:
        ``(R, S)`` bool array with exactly ``counts[r]`` True entries in row ``r``; ties are
        broken by position (stable sort), so the selected *values* are always the same.

    Example:
        >>> import numpy as np
        >>> topk_mask(np.array([[3., 1., 2.], [0., 5., 4.]]), np.array([1, 2])).tolist()
        [[True, False, False], [False, True, True]]
    """
    if isinstance(counts, int):
        return _topk_mask_fixed(values, counts)
    if is_torch(values):
        import torch
        order = torch.argsort(values, dim=1, descending=True, stable=True)
        ranks = torch.arange(values.shape[1], device=values.device).expand_as(order)
        rank = torch.empty_like(order).scatter_(1, order, ranks)
        return rank < counts[:, None]
    order = np.argsort(-values, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(values.shape[1]), order.shape), axis=1)
    return rank < counts[:, None]


def _topk_mask_fixed(values, m):
    """The same mask when every row keeps ``m`` entries: O(S) selection instead of a sort."""
    rows, size = values.shape
    if is_torch(values):
        import torch
        mask = torch.zeros(values.shape, dtype=torch.bool, device=values.device)
        if m > 0:
            mask.scatter_(1, torch.topk(values, m, dim=1, sorted=False).indices, True)
        return mask
    mask = np.zeros(values.shape, dtype=bool)
    if m >= size:
        mask[:] = True
    elif m > 0:
        np.put_along_axis(mask, np.argpartition(-values, m - 1, axis=1)[:, :m], True, axis=1)
    return mask
