"""Distribution-based (per-pixel) losses: cross-entropy and its weighted, balanced, focal and top-k variants."""
from __future__ import annotations

__all__ = ["cross_entropy"]

from .. import examples as ex
from ..catalogue import register
from ..pair import make_pair
from ..reduce import pixel_reduce
from ..validation import check_weight


def _per_pixel_ce(pair, weight=None):
    """(N, S) cross-entropy -sum_c w_c y_c log p_c, and the (N, S) per-pixel weight (or None)."""
    xp = pair.xp
    logp = pair.log_prob()
    if pair.activation == "sigmoid":
        # binary / multi-label: -[y log p + (1 - y) log(1 - p)] summed over channels
        y = pair.dense
        per = -(y * logp + (1.0 - y) * pair.log_one_minus_prob())
        if weight is not None:
            per = per * xp.reshape(weight, (1, -1, 1))
        return xp.sum(per, axis=1), None
    if pair.labels is not None:
        from .. import primitives as P
        per = -P.gather_class(logp, pair.labels)
        if weight is None:
            return per, None
        w = xp.take(weight, xp.reshape(pair.labels, (-1,)))
        return per, xp.reshape(w, per.shape)
    y = pair.dense
    if weight is not None:
        y = y * xp.reshape(weight, (1, -1, 1))
    return -xp.sum(y * logp, axis=1), None


def _example_ce(seed):
    x, y = ex.multiclass(seed, ignore_index=-100)
    return (x, y), {"ignore_index": -100}


@register("cross_entropy", kind="loss", name="Cross-entropy", example=_example_ce,
          references=("long2015fully",), chapter="ch2",
          formula=r"L = -\frac{1}{|\Omega|}\sum_{i\in\Omega}\sum_{c} y_{ic}\log p_{ic}",
          theorems=("verify_log_loss_proper",), tags=("soft-target",))
def cross_entropy(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
                  reduction="mean"):
    r"""Pixel-wise cross-entropy.

    .. math:: L = -\frac{1}{\sum_i w_{y_i}} \sum_i w_{y_i} \log p_{i, y_i}

    with :math:`p = \mathrm{softmax}(x)` over the class axis (sigmoid for one channel).
    Soft targets ``(N, C, *spatial)`` give :math:`-\sum_c y_{ic} \log p_{ic}`.

    Args:
        input: ``(N, C, *spatial)`` logits (or probabilities with ``from_logits=False``).
        target: ``(N, *spatial)`` int labels or ``(N, C, *spatial)`` per-class values in [0, 1].
        weight: optional per-class weights ``(C,)``; with labels the mean is normalised by
            :math:`\sum_i w_{y_i}` as in ``torch.nn.functional.cross_entropy``.
        ignore_index: label value excluded from the loss and the normaliser.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, *spatial)``).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 2, 2, 2)); y = np.zeros((1, 2, 2), dtype=int)
        >>> round(float(segmath.cross_entropy(x, y)), 6)  # log 2
        0.693147
    """
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index)
    w = check_weight(weight, pair.num_classes, pair.input)
    per, pixel_weight = _per_pixel_ce(pair, w)
    return pixel_reduce(pair.xp, per, reduction, valid=pair.valid, pixel_weight=pixel_weight,
                        spatial=pair.spatial)
