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
target term is one gather.  Forward: one softmax and one reduction over the ``(N, C, S)`` input (two
with the squares), the target terms by ``gather`` / ``scatter_add`` along the class axis; backward: one
read of ``p`` for the class sum, the affine factor :math:`v_s (g^{SP}_c - \sum_k p_k G_k)` written once
(with a mask, by one ``(C, 2) x (2, S)`` product per image that folds it in), one in-place product
with ``p`` and one scatter of the target term.  Saved for the backward: the probabilities, the labels and the mask --
nothing else of the input's size.  On a CPU the class-axis ``gather`` / ``scatter_add`` check the label
range themselves, so with value checks on the separate min/max pass over the labels is skipped
there (:meth:`segmath.inputs.Pair.guarded` turns the indexing error into the ``ValueError`` naming
``target``); on CUDA an out-of-range index is a device-side assert that cannot be caught, and the
labels are checked before the call.

The formula path (autograd through softmax, gather, scatter-add) stays the reference
(:func:`segmath.stats.formula_path`); this one is used only where it applies: torch input,
logits with a softmax, integer label targets.  Probabilities as input, sigmoid / multi-label and
dense or soft targets take the formula path.  Not twice differentiable (the backward is not
itself traced by autograd).
"""
from __future__ import annotations

import torch

__all__ = ["label_softmax_stats", "label_cross_entropy", "mean_bce_with_logits"]


class _LabelSoftmaxStats(torch.autograd.Function):
    # autocast is switched off inside: it would run the products in half precision while the
    # scatter-add stays in float32 (make_pair has already promoted the input to float32 at least)
    @staticmethod
    def forward(ctx, x, labels, valid, squares):
        with torch.autocast(x.device.type, enabled=False):
            return _LabelSoftmaxStats._forward(ctx, x, labels, valid, squares)

    @staticmethod
    def _forward(ctx, x, labels, valid, squares):
        # passes over the (N, C, S) input: the softmax (read x, write p), one reduction (SP) and,
        # with squares, one more (SP2); everything else is (N, S) or (N, C)
        n, c, size = x.shape
        p = torch.softmax(x, dim=1)                                   # (N, C, S)
        v = None if valid is None else valid.to(x.dtype)
        # gather / scatter_add along the class axis bounds-check the labels on a CPU (the range
        # check of value checks rides on them there: segmath.inputs.Pair.guarded)
        p_true = torch.gather(p, 1, labels[:, None, :]).squeeze(1)  # p at the true class, (N, S)
        if v is None:
            sp = p.sum(2)
        else:
            p_true = p_true * v
            sp = torch.bmm(p, v[:, :, None]).squeeze(2)               # masked sum, no (N, C, S) temp
        tp = p.new_zeros((n, c)).scatter_add_(1, labels, p_true)
        counted = p.new_ones(()).expand(n, size) if v is None else v   # a broadcast 1: no fill
        sy = p.new_zeros((n, c)).scatter_add_(1, labels, counted)     # a constant
        ctx.mark_non_differentiable(sy)
        sp2 = None
        if squares:
            if v is None:   # one read of p: the squared 2-norm of each (image, class) row
                sp2 = torch.linalg.vector_norm(p, 2, dim=2).square()
            else:
                sp2 = torch.bmm(p * p, v[:, :, None]).squeeze(2)
        ctx.save_for_backward(p, p_true, labels, v)
        ctx.squares = squares
        return (tp, sp, sy, sp2) if squares else (tp, sp, sy)

    @staticmethod
    def backward(ctx, *grads):
        with torch.autocast(ctx.saved_tensors[0].device.type, enabled=False):
            return _LabelSoftmaxStats._backward(ctx, *grads)

    @staticmethod
    def _backward(ctx, g_tp, g_sp, _g_sy, g_sp2=None):
        # dL/dx_c = v p_c (G_c - sum_k p_k G_k) + v [y = c] t with G_c = g^SP_c (+ 2 p_c g^SP2_c)
        # and t = p_y g^TP_y (the one-hot part of G).  Passes over (N, C, S): one read of p for the
        # class sum, one write of the affine factor, one in-place product (two more with squares)
        p, p_true, labels, v = ctx.saved_tensors
        n, c, size = p.shape
        zeros = p.new_zeros((n, c))
        g_tp = zeros if g_tp is None else g_tp
        g_sp = zeros if g_sp is None else g_sp
        # t = p_y g^TP_y (p_true is already masked; the mask multiplies the whole gradient below,
        # so it is the unmasked p_y there, and v t = t)
        t = p_true * torch.gather(g_tp, 1, labels)                    # (N, S)
        if ctx.squares and g_sp2 is not None:
            w = torch.addcmul(g_sp[:, :, None], p, 2.0 * g_sp2[:, :, None]).mul_(p)   # p_c G_c
            dot = w.sum(1, keepdim=True)
            dot.add_(t[:, None, :])
            dx = w.addcmul_(p, dot, value=-1.0)
            if v is not None:
                dx.mul_(v[:, None, :])
        else:
            dot = torch.bmm(g_sp[:, None, :], p).add_(t[:, None, :])    # (N, 1, S): sum_k p_k G_k
            if v is None:   # the factor g^SP_c - dot_s written once, then p times it in place
                dx = torch.sub(g_sp[:, :, None], dot).mul_(p)
            else:           # v_s (g^SP_c - dot_s) as one (C, 2) x (2, S) product per image: the mask folded in
                left = torch.stack((g_sp, -torch.ones_like(g_sp)), 2)                   # (N, C, 2)
                right = torch.cat((v[:, None, :], dot * v[:, None, :]), 1)              # (N, 2, S)
                dx = torch.bmm(left, right).mul_(p)
        dx.scatter_add_(1, labels[:, None, :], t[:, None, :])        # the one-hot term at y
        return dx, None, None, None


def label_softmax_stats(x, labels, valid=None, squares=False):
    """``(TP, SP, SY)`` or ``(TP, SP, SY, SP2)``, each ``(N, C)``, of ``softmax(x)`` against ``labels``
    (``SY``, the counted pixels of each class, is a constant).

    ``x`` ``(N, C, S)`` float logits, ``labels`` ``(N, S)`` int64 in ``[0, C)`` (0 at ignored
    pixels), ``valid`` ``(N, S)`` bool or None.
    """
    return _LabelSoftmaxStats.apply(x, labels, valid, squares)


class _LabelCrossEntropy(torch.autograd.Function):
    r"""Summed (weighted) cross-entropy of logits against labels and the total weight counted.

    Forward: ``log_softmax`` and one ``nll_loss`` kernel, which sums :math:`-w_{y_i}\log p_{i y_i}` over
    the counted pixels on the fly, returns :math:`\sum_i w_{y_i}` with it, skips ``ignore_index`` and
    bounds-checks every other label (on a CPU: the label range check of value checks).  Backward, in
    closed form: :math:`\partial/\partial x_{ic} = g\,w_{y_i}(p_{ic} - [c = y_i])` with
    :math:`p = \exp(\log p)` -- one ``exp`` of the saved log-probabilities, one in-place product and one
    scatter of the one-hot term, instead of torch's zero fill, scatter and ``log_softmax`` backward.
    Saved: the log-probabilities (as torch saves them) and the labels.
    """

    @staticmethod
    def forward(ctx, x, labels, weight, ignore_index):
        with torch.autocast(x.device.type, enabled=False):
            n, c, size = x.shape
            lsm = torch.log_softmax(x, dim=1)
            total, count = torch.ops.aten.nll_loss2d_forward(lsm.reshape(n, c, size, 1), labels.reshape(n, size, 1),
                                                             weight, 2, ignore_index)   # 2: summed
            ctx.mark_non_differentiable(count)
            ctx.save_for_backward(lsm, labels, weight)
            ctx.ignore_index = ignore_index
            return total, count

    @staticmethod
    def backward(ctx, g_total, _g_count):
        with torch.autocast(g_total.device.type, enabled=False):
            lsm, labels, weight = ctx.saved_tensors
            n, c, size = lsm.shape
            ignore = ctx.ignore_index
            if weight is None and ignore == NO_IGNORE:
                scale = g_total                                          # the same for every pixel
                minus = (-g_total).expand(n, 1, size)
                index = labels[:, None, :]
            else:
                valid = None if ignore == NO_IGNORE else labels != ignore
                index = labels if valid is None else torch.where(valid, labels, torch.zeros_like(labels))
                w = g_total.expand(n, size) if weight is None else weight[index] * g_total
                scale = w if valid is None else torch.where(valid, w, torch.zeros_like(w))
                scale = scale[:, None, :]                                  # (N, 1, S)
                minus, index = -scale, index[:, None, :]
            dx = torch.exp(lsm).mul_(scale)
            dx.scatter_add_(1, index, minus)                             # the one-hot term at y
            return dx, None, None, None


NO_IGNORE = -(2 ** 63)   # the ignore_index handed to the nll kernel when nothing is ignored


def label_cross_entropy(x, labels, weight=None, ignore_index=None):
    """``(total, count)``: the summed cross-entropy :math:`\\sum_i -w_{y_i}\\log\\mathrm{softmax}(x_i)_{y_i}` of
    ``x`` ``(N, C, S)`` logits against ``labels`` ``(N, S)`` int64 (``ignore_index`` skipped) and the
    total weight :math:`\\sum_i w_{y_i}` of the counted pixels (a constant).  ``weight`` ``(C,)`` or None."""
    ignore = NO_IGNORE if ignore_index is None else int(ignore_index)
    return _LabelCrossEntropy.apply(x, labels, weight, ignore)


class _MeanBCEWithLogits(torch.autograd.Function):
    r"""Mean of :math:`\ell = x(1 - y) - \log\sigma(x)` (binary cross-entropy from logits, no weights).

    Forward: one stable ``log_sigmoid`` and two in-place passes on its output before the sum (torch's
    composite forward makes ``1 - y`` too, and two more in-place passes): one temporary of the input's size.
    Backward, in closed form: :math:`g (\sigma(x) - y) / M` in three passes (``sigmoid``, subtract,
    scale in place).  Saved: nothing new (the inputs themselves).
    """

    @staticmethod
    def forward(ctx, x, y):
        with torch.autocast(x.device.type, enabled=False):
            # -l = log sigma(x) - x + x y, built in the log-sigmoid's own buffer (one temporary)
            neg = torch.nn.functional.logsigmoid(x).sub_(x).addcmul_(x, y)
            ctx.save_for_backward(x, y)
            return neg.sum().neg() / float(x.numel())

    @staticmethod
    def backward(ctx, g):
        with torch.autocast(g.device.type, enabled=False):
            x, y = ctx.saved_tensors
            dx = torch.sigmoid(x).sub_(y).mul_(g / float(x.numel()))
            return dx, None


def mean_bce_with_logits(x, y):
    """``mean(-[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))])`` over every element, fused (torch)."""
    return _MeanBCEWithLogits.apply(x, y)
