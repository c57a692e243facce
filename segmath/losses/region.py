"""Region-based (overlap) losses: Dice, Jaccard, Tversky and their variants.

Each is a short formula in the soft confusion statistics of :mod:`segmath.stats`,
computed per image and class (``aggregate="image"``, the default) or pooled over
the batch (``aggregate="batch"``), then reduced with the per-class ``weight``.

Empty policy: ``smooth`` (default 1e-5) is added to numerator and denominator.  A
class absent from both target and prediction then scores a loss of 0; an absent
class that is predicted scores close to 1 (a false positive is penalised, unlike
smp's DiceLoss, which returns 0 there).
"""
from __future__ import annotations

__all__ = ["dice"]

from .. import examples as ex
from ..catalogue import register
from ..pair import make_pair
from ..reduce import class_reduce
from ..stats import soft_stats
from ..validation import check_scalar, check_weight


def _example_region(seed):
    x, y = ex.multiclass(seed)
    return (x, y), {}


def _region_setup(input, target, *, from_logits, activation, ignore_index, weight, smooth, aggregate,
                  squares=False, l1=False, soft_target=True):
    """Validated pair, soft statistics and class weights: the shared first lines of every region loss."""
    check_scalar(smooth, "smooth", low=0)
    pair = make_pair(input, target, from_logits=from_logits, activation=activation,
                     ignore_index=ignore_index, soft_target=soft_target)
    stats = soft_stats(pair, aggregate, squares=squares, l1=l1)
    w = check_weight(weight, pair.num_classes, pair.input)
    return pair, stats, w


@register("dice", kind="loss", name="Soft Dice loss", example=_example_region,
          references=("milletari2016vnet", "sudre2017generalised"), chapter="ch4",
          formula=r"L = 1 - \frac{2\sum_i p_i y_i + s}{\sum_i p_i + \sum_i y_i + s}",
          theorems=("verify_soft_dice_gradient_constant", "verify_dice_jaccard_bijection"),
          tags=("soft-target",))
def dice(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
         smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Soft Dice loss, per image and class.

    .. math:: L_{nc} = 1 - \frac{2\,TP_{nc} + s}{2\,TP_{nc} + FP_{nc} + FN_{nc} + s}
              = 1 - \frac{2\sum_i p_{ic} y_{ic} + s}{\sum_i p_{ic} + \sum_i y_{ic} + s}

    Args:
        input: ``(N, C, *spatial)`` logits (probabilities with ``from_logits=False``).
        target: ``(N, *spatial)`` labels or ``(N, C, *spatial)`` one-hot / soft targets.
        weight: per-class weights ``(C,)`` for the class mean (0 drops a class, e.g. background).
        smooth: ``s`` above; the empty policy (see module docstring).
        aggregate: ``"image"`` (per image, then mean) or ``"batch"`` (counts pooled over the batch).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the ``(N, C)`` or ``(1, C)`` table).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.stack([1 - y, y], 1).astype(float)
        >>> float(segmath.dice(p, y, from_logits=False))
        0.0
    """
    pair, st, w = _region_setup(input, target, from_logits=from_logits, activation=activation,
                                ignore_index=ignore_index, weight=weight, smooth=smooth, aggregate=aggregate)
    loss = 1.0 - (2.0 * st.tp + smooth) / (st.sp + st.sy + smooth)
    return class_reduce(pair.xp, loss, reduction, w)
