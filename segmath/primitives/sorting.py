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

The extension is piecewise linear and its gradient w.r.t. :math:`m_{\pi_k}` is :math:`g_k`, which
depends on the order only; so on torch (eager) a custom autograd function keeps the permutation
and the increments of the forward and its backward is one scatter of :math:`g` through the saved
permutation (no autograd graph of the gathers, sums and divisions, no zero-filled buffer).

Speed (torch, CPU, float32, eager): the sort is the floor, and NumPy's vectorised sorts
(x86-simd-sort on AVX-512/AVX2) sort 64-bit integers several times faster than ``torch.sort``
sorts floats.  Non-negative IEEE floats order like their bit patterns read as integers, so each
element becomes ONE int64 key: the complemented bits of the error in the high 32 bits (an
ascending sort is then decreasing in the error), and ``2 * index + foreground`` in the low 32
bits.  One ``np.sort`` of those keys gives the permutation, the sorted errors and the sorted
foreground at once (no argsort, no gathers), and ties are broken by the index (the order of a
stable sort, as NumPy's ``argsort(-m, kind="stable")``).  Under ``torch.compile``, on other
devices and for float64 the sort is ``torch.sort`` of the integer view of the errors, and under
``torch.compile`` the extension is written with differentiable gathers (the traced graph).
"""
from __future__ import annotations

import os
import sys
import weakref

import numpy as np

from ..numerics import safe_divide
from .arrays import device, is_torch, namespace

__all__ = ["lovasz_jaccard", "argsort_desc_nonnegative", "SortedRows"]

_MAX_PACKED = 2 ** 31          # 2 * index + 1 must fit in the low 32 bits of a packed key


def _compiling():
    import torch
    return torch.compiler.is_compiling()


def _packable(x):
    """A CPU float32 torch tensor in eager mode, rows short enough for the packed int64 keys."""
    import torch
    return (x.dtype == torch.float32 and x.device.type == "cpu" and x.shape[-1] < _MAX_PACKED
            and sys.byteorder == "little" and not _compiling())


def _packed_block(errors, foreground, out):
    """Pack (R, S) rows into ``out`` (int64) and sort them: each half of a key is written in one pass."""
    halves = out.view(np.int32)                          # little-endian: [low, high] per key
    np.invert(errors.view(np.int32), out=halves[:, 1::2])
    fg = foreground if foreground.dtype == bool else foreground > 0
    np.add(np.arange(0, 2 * errors.shape[-1], 2, dtype=np.int32), fg, out=halves[:, 0::2], dtype=np.int32)
    out.sort(axis=-1)


_POOL = {}
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.clear)     # a forked child starts its own pool


_FREE = []                      # released key buffers, most recent last
_POOL_BYTES = 2 ** 29           # at most 512 MiB of them are kept


def _take_buffer(shape):
    """An int64 buffer of ``shape``: a released one of that shape, else a new one.

    Buffers above the allocator's mmap threshold (32 MiB) come back from the kernel as fresh pages
    on every call, and touching them first costs more than the sort on a loaded machine; reusing
    the keys of the previous step avoids it.
    """
    for i in range(len(_FREE) - 1, -1, -1):
        if _FREE[i].shape == tuple(shape):
            return _FREE.pop(i)
    return np.empty(shape, np.int64)


def _release_buffer(buf):
    """Return a key buffer to the pool once nothing refers to its rows any more (see SortedRows)."""
    _FREE.append(buf)
    while sum(b.nbytes for b in _FREE) > _POOL_BYTES:
        _FREE.pop(0)


def _packed_sort(errors, foreground):
    """(R, S) float32 errors >= 0 and 0/1 (or bool) foreground, NumPy -> sorted keys (int64, ascending).

    key = (~bits(m)) << 32 | (2 * index + [g > 0]): ascending keys are decreasing errors, ties by index.
    With more than one torch thread the rows are split into blocks sorted in a thread pool (NumPy
    releases the GIL while it sorts), as ``torch.sort`` spreads rows over its threads.  The key
    buffer comes from a small pool (:func:`_take_buffer`).
    """
    import torch
    keys = _take_buffer(errors.shape)
    threads = min(torch.get_num_threads(), errors.shape[0])
    if threads <= 1 or errors.size < 2 ** 18:
        _packed_block(errors, foreground, keys)
        return keys
    if threads not in _POOL:
        from concurrent.futures import ThreadPoolExecutor
        _POOL[threads] = ThreadPoolExecutor(threads, thread_name_prefix="segmath-sort")
    cuts = np.linspace(0, errors.shape[0], threads + 1).astype(int)
    jobs = [_POOL[threads].submit(_packed_block, errors[a:b], foreground[a:b], keys[a:b])
            for a, b in zip(cuts[:-1], cuts[1:])]
    for job in jobs:
        job.result()
    return keys


def _unpack_sorted(keys):
    """Sorted packed keys -> (sorted errors float32, sorted foreground float32): two strided reads."""
    halves = keys.view(np.int32)                          # little-endian: [low, high] per key
    m_sorted = np.invert(halves[..., 1::2]).view(np.float32)
    g_sorted = np.bitwise_and(halves[..., 0::2], 1).astype(np.float32)
    return m_sorted, g_sorted


def _unpack_perm_inplace(keys):
    """Sorted packed keys -> the permutation (int64), overwriting the keys."""
    keys &= 0xFFFFFFFF
    keys >>= 1
    return keys


def argsort_desc_nonnegative(x):
    """Permutation sorting each row of ``x`` (last axis) in decreasing order; ``x >= 0``, no NaN.

    Ties are ordered arbitrarily (they do not change the Lovász extension's value); CPU float32
    tensors in eager mode, and NumPy arrays, break them by the index (a stable order).
    """
    if is_torch(x):
        import torch
        key = x.detach().contiguous()
        if _packable(key):
            return torch.from_numpy(_unpack_perm_inplace(_packed_sort(key.numpy(), np.zeros(key.shape, bool))))
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


def _increments(xp, g_sorted, n_fg, like):
    """Closed-form increments g_k (R, S) of the sorted rows, and the (R,) empty-row indicator."""
    seen_fg = xp.cumulative_sum(g_sorted, axis=-1)
    k = xp.arange(1, g_sorted.shape[-1] + 1, dtype=like.dtype, device=device(like))
    inter = n_fg - seen_fg
    union = n_fg + k - seen_fg                       # >= 1 at every position
    # U - 1 is 0 only at k = 1 with an empty foreground, where I = 0 too: 0 there, then g_1 = 1 below
    miss = safe_divide(xp, inter, union - 1.0)
    gain = xp.where(g_sorted > 0, xp.ones_like(miss), miss) / union
    return gain, xp.astype(n_fg[:, 0] == 0, like.dtype)


def _increments_inplace(g_sorted, n_fg):
    """:func:`_increments` on torch with two (R, S) buffers instead of ten, bit for bit the same.

    The counts I_k, U_k are integers (exact in floating point up to 2**24 pixels per row for
    float32), so the order of the additions does not matter; U_k - 1 = 0 only in the first column
    (U_k >= k), where I_k = 0 too, which the safe division maps to 0.
    """
    import torch
    inter = torch.cumsum(g_sorted, dim=-1).neg_().add_(n_fg)          # I_k = |G| - F_k
    union = inter + torch.arange(1, g_sorted.shape[-1] + 1, dtype=g_sorted.dtype, device=g_sorted.device)  # I_k + k
    first_zero = union[:, 0] == 1.0
    inter.div_(union.sub_(1.0))                                        # I_k / (U_k - 1)
    union.add_(1.0)
    inter[:, 0].masked_fill_(first_zero, 0.0)
    gain = inter.masked_fill_(g_sorted > 0, 1.0).div_(union)
    return gain, (n_fg[:, 0] == 0).to(g_sorted.dtype)


def _value(xp, m_sorted, gain, empty_row):
    return xp.sum(m_sorted * gain, axis=-1) + empty_row * m_sorted[:, 0]


def _lovasz_formula(errors, foreground):
    """The extension written with differentiable gathers (NumPy, and the graph torch.compile traces)."""
    xp = namespace(errors)
    perm = argsort_desc_nonnegative(errors)
    m_sorted = _gather_rows(errors, perm)
    g_sorted = _gather_rows(foreground, perm)
    gain, empty_row = _increments(xp, g_sorted, xp.sum(foreground, axis=-1, keepdims=True), errors)
    return _value(xp, m_sorted, gain, empty_row)


class SortedRows:
    """The Lovász extension of every row of a torch ``(R, S)`` error array, with its gradient.

    Eager torch only (no autograd graph): ``value`` is ``(R,)``; :meth:`grad` scatters the
    increments, weighted per row, back through the permutation of the one sort (kept packed with
    the keys on CPU).  ``foreground`` may be bool or 0/1 of the errors' dtype; ``n_fg`` its row sums
    ``(R,)`` when the caller has them.
    """

    def __init__(self, errors, foreground, n_fg=None):
        import torch
        errors = errors.detach().contiguous()
        foreground = foreground.detach().contiguous()
        if n_fg is None:
            n_fg = torch.sum(foreground, dim=-1, dtype=errors.dtype)
        n_fg = n_fg.to(errors.dtype)[:, None]
        self.keys = self.perm = None
        if _packable(errors):
            self.keys = _packed_sort(errors.numpy(), foreground.numpy())
            weakref.finalize(self, _release_buffer, self.keys)     # back to the pool with these rows
            m_sorted, g_sorted = (torch.from_numpy(v) for v in _unpack_sorted(self.keys))
        else:
            self.perm = argsort_desc_nonnegative(errors)
            m_sorted = torch.gather(errors, -1, self.perm)
            g_sorted = torch.gather(foreground.to(errors.dtype), -1, self.perm)
        gain, empty_row = _increments_inplace(g_sorted, n_fg)
        self.value = _value(namespace(errors), m_sorted, gain, empty_row)
        gain[:, 0] += empty_row                   # d value / d m_{pi_1} = g_1 + [G empty] (g_1 = 0 then)
        self.gain = gain

    def grad(self, weights):
        """``(R, S)`` gradient of ``sum_r weights[r] * value[r]`` w.r.t. the errors."""
        import torch
        if self.perm is None:
            self.perm = torch.from_numpy(_unpack_perm_inplace(self.keys))
        return torch.empty_like(self.gain).scatter_(-1, self.perm, self.gain * weights[:, None])


_FUNCTION = None


def _function():
    """torch.autograd.Function: forward sorts once, backward scatters the increments back."""
    global _FUNCTION
    if _FUNCTION is None:
        import torch

        class LovaszJaccard(torch.autograd.Function):
            @staticmethod
            def forward(ctx, errors, foreground):
                ctx.rows = SortedRows(errors, foreground)
                return ctx.rows.value

            @staticmethod
            def backward(ctx, grad_value):
                return ctx.rows.grad(grad_value), None

        _FUNCTION = LovaszJaccard
    return _FUNCTION


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
    if is_torch(errors) and not _compiling():
        return _function().apply(errors, foreground.detach())
    return _lovasz_formula(errors, foreground)
