r"""Sorting-based primitive of the Lovász losses: the Lovász extension of the Jaccard loss.

For each row ``r`` of an ``(R, S)`` error array :math:`m \ge 0` and a 0/1 foreground row
:math:`g`, the Lovász extension of the set function :math:`\Delta_J(M) = |M| / |G \cup M|`
(:math:`M` the set of mispredicted pixels, :math:`G` the foreground) is

.. math:: \bar\Delta_J(m) = \sum_{k=1}^{S} m_{\pi_k}\,\big(\Delta_J(\{\pi_1..\pi_k\}) -
          \Delta_J(\{\pi_1..\pi_{k-1}\})\big)

with :math:`\pi` sorting :math:`m` in decreasing order (Lovász 1983; Berman et al. 2018, Alg. 1).
All rows are sorted in ONE call and the gradient is built with cumulative sums, so there is no
Python loop over images or classes.

The increments are computed in closed form rather than as differences of consecutive Jaccard
values: with :math:`F_k` foreground pixels among the first :math:`k`, :math:`I_k = |G| - F_k` and
:math:`U_k = |G| + k - F_k`,

.. math:: g_k = \frac{1}{U_k}\ \text{if } \pi_k \in G, \qquad
          g_k = \frac{I_k}{U_k (U_k - 1)}\ \text{otherwise}

(for :math:`G = \emptyset` the only non-zero increment is :math:`g_1 = 1`: the extension is
:math:`\max_i m_i`).  Differences of consecutive Jaccard values, all close to 1 on long rows,
cancel in float32: on a row of :math:`2^{18}` pixels the gradient of Berman's form is off by 21%
(median) and up to 1000x, while the closed form stays at float32 precision (the loss value itself
is less affected, about 2e-6 relative, because the errors average out).

Speed (torch): non-negative IEEE floats order like their bit patterns read as integers, and
torch sorts integer keys about 1.5x faster than floats on CPU; the permutation then gathers the
(differentiable) errors and the foreground with ``torch.gather`` (``take_along_dim`` adds a
modulo pass over the indices).
"""
from __future__ import annotations

import numpy as np

from ..numerics import safe_divide
from .arrays import device, is_torch, namespace

__all__ = ["lovasz_jaccard", "argsort_desc_nonnegative"]


def argsort_desc_nonnegative(x):
    """Permutation sorting each row of ``x`` (last axis) in decreasing order; ``x >= 0``, no NaN.

    Ties are ordered arbitrarily (they do not change the Lovász extension's value).
    """
    if is_torch(x):
        import torch
        key = x.detach().contiguous()
        if key.dtype == torch.float32:
            key = key.view(torch.int32)
        elif key.dtype == torch.float64:
            key = key.view(torch.int64)
        return torch.sort(key, dim=-1, descending=True)[1]
    return np.argsort(-x, axis=-1, kind="stable")


def _gather_rows(x, index):
    if is_torch(x):
        import torch
        return torch.gather(x, -1, index)
    return np.take_along_axis(x, index, axis=-1)


def lovasz_jaccard(errors, foreground):
    """Lovász extension of the Jaccard loss for every row.

    Args:
        errors: ``(R, S)`` non-negative float errors :math:`m` (differentiable on torch).  Pixels
            that must not count should be given error 0 and foreground 0: they then sort among
            the zeros and contribute nothing.
        foreground: ``(R, S)`` 0/1 float array of the same dtype (no gradient).

    Returns:
        ``(R,)`` values :math:`\\bar\\Delta_J(m)`; on torch the gradient w.r.t. ``errors`` is the
        marginal-gain vector :math:`g` scattered back to the unsorted positions.

    Example:
        >>> import numpy as np
        >>> m = np.array([[0.2, 0.9, 0.0]]); g = np.array([[1.0, 0.0, 0.0]])
        >>> float(lovasz_jaccard(m, g)[0])  # 0.9 * (1/2 - 0) + 0.2 * (2/2 - 1/2) + 0.0 * (3/3 - 2/2)
        0.55
    """
    xp = namespace(errors)
    perm = argsort_desc_nonnegative(errors)
    m_sorted = _gather_rows(errors, perm)
    g_sorted = _gather_rows(foreground, perm)
    n_fg = xp.sum(foreground, axis=-1, keepdims=True)
    seen_fg = xp.cumulative_sum(g_sorted, axis=-1)
    k = xp.arange(1, errors.shape[-1] + 1, dtype=errors.dtype, device=device(errors))
    inter = n_fg - seen_fg
    union = n_fg + k - seen_fg                       # >= 1 at every position
    # U - 1 is 0 only at k = 1 with an empty foreground, where I = 0 too: 0 there, then g_1 = 1 below
    miss = safe_divide(xp, inter, union - 1.0)
    gain = xp.where(g_sorted > 0, xp.ones_like(miss), miss) / union
    empty_row = xp.astype(n_fg[:, 0] == 0, errors.dtype)
    return xp.sum(m_sorted * gain, axis=-1) + empty_row * m_sorted[:, 0]
