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

__all__ = ["label_softmax_stats"]


class _LabelSoftmaxStats(torch.autograd.Function):
    # autocast is switched off inside: it would run the products in half precision while the
    # scatter-add stays in float32 (make_pair has already promoted the input to float32 at least)
    @staticmethod
    def forward(ctx, x, labels, valid, squares):
        with torch.autocast(x.device.type, enabled=False):
            return _LabelSoftmaxStats._forward(ctx, x, labels, valid, squares)

    @staticmethod
    def _forward(ctx, x, labels, valid, squares):
        p = torch.softmax(x, dim=1)                                   # (N, C, S)
        v = None if valid is None else valid.to(x.dtype)
        col = labels[:, None, :]
        p_true = p.gather(1, col).squeeze(1)                          # (N, S)
        if v is None:
            sp = p.sum(2)
        else:
            p_true = p_true * v
            sp = torch.bmm(p, v[:, :, None]).squeeze(2)               # masked sum, no (N, C, S) temp
        tp = torch.zeros_like(sp).scatter_add_(1, labels, p_true)
        sp2 = None
        if squares:
            sq = p * p if v is None else p * p * v[:, None, :]
            sp2 = sq.sum(2)
        ctx.save_for_backward(p, labels, v)
        ctx.squares = squares
        return (tp, sp, sp2) if squares else (tp, sp)

    @staticmethod
    def backward(ctx, *grads):
        with torch.autocast(ctx.saved_tensors[0].device.type, enabled=False):
            return _LabelSoftmaxStats._backward(ctx, *grads)

    @staticmethod
    def _backward(ctx, g_tp, g_sp, g_sp2=None):
        p, labels, v = ctx.saved_tensors
        n, c, _ = p.shape
        zeros = p.new_zeros((n, c))
        g_tp = zeros if g_tp is None else g_tp
        g_sp = zeros if g_sp is None else g_sp
        # dot_s = sum_k p_k dL/dp_k (before the mask): the SP part is a (1, C) x (C, S) product per image
        dot = torch.bmm(g_sp[:, None, :], p).squeeze(1)              # (N, S)
        t = p.gather(1, labels[:, None, :]).squeeze(1) * g_tp.gather(1, labels)   # p_y g^TP_y
        dot = dot + t
        if ctx.squares and g_sp2 is not None:
            p2 = p * p
            dot = dot + 2.0 * torch.bmm(g_sp2[:, None, :], p2).squeeze(1)
            dx = g_sp[:, :, None] + 2.0 * p * g_sp2[:, :, None]
            dx.sub_(dot[:, None, :])
        else:
            dx = g_sp[:, :, None] - dot[:, None, :]
        dx.mul_(p)
        dx.scatter_add_(1, labels[:, None, :], t[:, None, :])       # the one-hot term, p_y g^TP_y at y
        if v is not None:
            dx.mul_(v[:, None, :])
        return dx, None, None, None


def label_softmax_stats(x, labels, valid=None, squares=False):
    """``(TP, SP)`` or ``(TP, SP, SP2)``, each ``(N, C)``, of ``softmax(x)`` against ``labels``.

    ``x`` ``(N, C, S)`` float logits, ``labels`` ``(N, S)`` int64 in ``[0, C)`` (0 at ignored
    pixels), ``valid`` ``(N, S)`` bool or None.
    """
    return _LabelSoftmaxStats.apply(x, labels, valid, squares)
