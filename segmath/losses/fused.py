r"""Fused soft statistics of a softmax over label targets, with their analytic backward (torch).

Every region loss (Dice, Jaccard, Tversky, focal Tversky, GDL, squared Dice, their log forms,
MCC) is a function of the per-(image, class) sums

.. math:: TP_{nc} = \sum_s v_s\, p_{ncs} [y_s = c], \quad SP_{nc} = \sum_s v_s\, p_{ncs},
          \quad SP2_{nc} = \sum_s v_s\, p_{ncs}^2

(``v`` the counted-pixel mask).  Given the upstream gradients :math:`g^{TP}, g^{SP}, g^{SP2}`
of the loss w.r.t. these ``(N, C)`` tables (autograd through the small formula), the gradient
w.r.t. the probabilities is, per pixel,

.. math:: \partial L / \partial p_{ncs} = v_s\,(g^{SP}_{nc} + 2 p_{ncs} g^{SP2}_{nc} + g^{TP}_{nc} [y_s = c])

-- without the squares, a per-class affine function of the one-hot target, constant within a
class (the book's soft-Dice theorem).  The softmax Jacobian is applied in closed form,
:math:`\partial L/\partial x_c = p_c (\partial L/\partial p_c - \sum_k p_k\, \partial L/\partial p_k)`,
where the class sum needs no one-hot: :math:`\sum_k p_k g^{SP}_k` is a batched matrix product and the
target term is one gather.  Forward: one softmax and two reductions; backward: one pass that
writes the gradient in place.  Saved for the backward: the probabilities, the labels and the
mask -- nothing else of the input's size.

The formula path (autograd through softmax, gather, scatter-add) stays the reference
(:func:`segmath.stats.formula_path`); this one is used only where it applies: torch input,
logits with a softmax, integer label targets.  Probabilities as input, sigmoid / multi-label and
dense or soft targets take the formula path.  Not twice differentiable (the backward is not
itself traced by autograd).
"""
from __future__ import annotations

import torch

__all__ = ["label_softmax_stats", "flat_indices"]


class _LabelSoftmaxStats(torch.autograd.Function):
    # autocast is switched off inside: it would run the products in half precision while the
    # scatter-add stays in float32 (make_pair has already promoted the input to float32 at least)
    @staticmethod
    def forward(ctx, x, labels, valid, squares):
        with torch.autocast(x.device.type, enabled=False):
            return _LabelSoftmaxStats._forward(ctx, x, labels, valid, squares)

    @staticmethod
    def _forward(ctx, x, labels, valid, squares):
        n, c, size = x.shape
        p = torch.softmax(x, dim=1)                                   # (N, C, S)
        v = None if valid is None else valid.to(x.dtype)
        cls, pix = flat_indices(labels, c, size)
        p_true = p.reshape(-1).index_select(0, pix).reshape(n, size)  # p at the true class, (N, S)
        if v is None:
            sp = p.sum(2)
        else:
            p_true = p_true * v
            sp = torch.bmm(p, v[:, :, None]).squeeze(2)               # masked sum, no (N, C, S) temp
        tp = p.new_zeros(n * c).index_add_(0, cls, p_true.reshape(-1)).reshape(n, c)
        counted = p.new_ones(()).expand(n, size) if v is None else v   # a broadcast 1: no fill
        sy = p.new_zeros(n * c).index_add_(0, cls, counted.reshape(-1)).reshape(n, c)   # a constant
        ctx.mark_non_differentiable(sy)
        sp2 = None
        if squares:
            sq = p * p if v is None else p * p * v[:, None, :]
            sp2 = sq.sum(2)
        ctx.save_for_backward(p, p_true, cls, pix, v)
        ctx.squares = squares
        return (tp, sp, sy, sp2) if squares else (tp, sp, sy)

    @staticmethod
    def backward(ctx, *grads):
        with torch.autocast(ctx.saved_tensors[0].device.type, enabled=False):
            return _LabelSoftmaxStats._backward(ctx, *grads)

    @staticmethod
    def _backward(ctx, g_tp, g_sp, _g_sy, g_sp2=None):
        p, p_true, cls, pix, v = ctx.saved_tensors
        n, c, size = p.shape
        zeros = p.new_zeros((n, c))
        g_tp = zeros if g_tp is None else g_tp
        g_sp = zeros if g_sp is None else g_sp
        # dot_s = sum_k p_k dL/dp_k (before the mask): the SP part is a (1, C) x (C, S) product per
        # image, the TP part p_y g^TP_y one look-up in the (N, C) table (p_true is already masked,
        # and the mask is applied to the whole gradient below, so it is the unmasked p_y there)
        t = p_true * g_tp.reshape(-1).index_select(0, cls).reshape(n, size)
        dot = torch.bmm(g_sp[:, None, :], p).squeeze(1) + t          # (N, S)
        if ctx.squares and g_sp2 is not None:
            dot = dot + 2.0 * torch.bmm(g_sp2[:, None, :], p * p).squeeze(1)
            dx = g_sp[:, :, None] + 2.0 * p * g_sp2[:, :, None]
            dx.sub_(dot[:, None, :])
        else:
            dx = g_sp[:, :, None] - dot[:, None, :]
        dx.mul_(p)
        dx.reshape(-1).index_add_(0, pix, t.reshape(-1))             # the one-hot term, p_y g^TP_y at y
        if v is not None:
            dx.mul_(v[:, None, :])
        return dx, None, None, None


_BASES: dict = {}


def flat_indices(labels, c, size):
    """Flat positions of each pixel's true class: in the ``(N * C)`` table and in the ``(N * C * S)`` input.

    1-D ``index_select`` / ``index_add_`` on these is several times faster on a CPU than ``gather`` /
    ``scatter_add`` along the class axis (whose inner stride is the whole image).  The offsets depend
    on the shape alone, so eager calls keep them (one add each per call instead of five ops: on a
    loaded machine the count of operator launches, not their size, is much of a step's cost).
    """
    n = labels.shape[0]
    key = (n, c, size, labels.device)
    bases = None if torch.compiler.is_compiling() else _BASES.get(key)
    if bases is None:
        image = torch.arange(n, device=labels.device)[:, None]
        bases = (image * c, image * (c * size) + torch.arange(size, device=labels.device))
        if not torch.compiler.is_compiling():
            _BASES.clear()                       # one shape at a time: a training run has one
            _BASES[key] = bases
    cls = torch.add(labels, bases[0]).reshape(-1)
    pix = torch.add(bases[1], labels, alpha=size).reshape(-1)
    return cls, pix


def label_softmax_stats(x, labels, valid=None, squares=False):
    """``(TP, SP, SY)`` or ``(TP, SP, SY, SP2)``, each ``(N, C)``, of ``softmax(x)`` against ``labels``
    (``SY``, the counted pixels of each class, is a constant).

    ``x`` ``(N, C, S)`` float logits, ``labels`` ``(N, S)`` int64 in ``[0, C)`` (0 at ignored
    pixels), ``valid`` ``(N, S)`` bool or None.
    """
    return _LabelSoftmaxStats.apply(x, labels, valid, squares)
