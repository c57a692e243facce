r"""Empty-class policy, class averaging and image aggregation, shared by every count metric.

**Undefined ratios (``empty=``).**  A count metric is a ratio :math:`a/b` of confusion
counts; it is undefined where :math:`b = 0`.  For IoU, Dice and :math:`F_\beta` that
happens exactly when the class is absent from both the target and the prediction
("both empty"); an empty target *with* false positives is well defined and scores 0.
For recall, an empty target is undefined whatever the prediction; for precision, an
empty prediction.  ``empty`` says what an undefined value becomes:

* ``"skip"`` (default): NaN in per-item output (``average="none"`` or
  ``aggregate="none"``) and left out of every mean; if nothing is left, NaN.  A class
  absent from an image neither rewards nor punishes it.  torchmetrics' ``MeanIoU`` (1.9)
  also leaves empty unions out, as do scikit-learn's ``zero_division=np.nan`` and
  mmsegmentation's ``nanmean``.
* ``"zero"``: the undefined value is 0, so absent classes pull the mean down.  This is
  scikit-learn's default (``zero_division="warn"``) and the behaviour of old torchmetrics
  ``MeanIoU`` that users reported as a bug (torchmetrics #2866).
* ``"one"``: the undefined value is 1 ("nothing to find, nothing found": perfect).  This is
  MONAI's ``DiceMetric(ignore_empty=False)`` on two empty masks, and miseval's Dice.

The two canonical cases for Dice/IoU under each policy: both masks empty gives NaN
(skip), 0 (zero) or 1 (one); empty target with false positives gives 0 in every
policy.  MONAI's ``ignore_empty=True`` is a different rule: it skips every image with an
empty target, *including* those with false positives, which hides false positives on
healthy images; segmath does not offer it.

**Class averaging (``average=``).**  ``"none"`` (or ``None``, scikit-learn's spelling, which
means the same there): one value per class; ``"macro"``: the
mean over classes; ``"weighted"``: the mean weighted by the class support
:math:`TP + FN` (the frequency-weighted IoU of Long et al. 2015 is the weighted IoU);
``"micro"``: one ratio of counts summed over classes (for single-label multi-class
problems micro precision = micro recall = micro F1 = pixel accuracy); ``"binary"``:
class 1 only (two-class problems).

**Background (``include_background=``).**  ``True`` (default): every class counts.  ``False``:
class 0 is left out before averaging, as MONAI's and torchmetrics' ``include_background=False``
(``average="none"`` then gives ``C - 1`` values, ``"micro"`` pools the foreground classes only,
``"weighted"`` weighs them by their support).  It is refused with ``average="binary"``, which
already scores class 1 alone.

**Image aggregation (``aggregate=``).**  ``"image"`` (default): the metric per image (and
class), then the mean over images — the DESIGN default and Wang et al.'s
:math:`\mathrm{mIoU}^I` for ``mean_iou``; with ``average="none"`` the per-class means over
images (their mean is :math:`\mathrm{mIoU}^C`).  ``"dataset"``: counts summed over all
images first, then one ratio — the Cityscapes / PASCAL VOC / mmsegmentation dataset mIoU
(:math:`\mathrm{mIoU}^D`).  ``"none"``: the per-image values themselves, ``(N,)`` or
``(N, C)``.  torchmetrics' ``MeanIoU`` is **not** the dataset mIoU (torchmetrics #2558):
its functional ``mean_iou`` returns per-image values (``aggregate="none"``), the class
with ``per_class=True`` the per-class means over images (``aggregate="image",
average="none"``), and with ``per_class=False`` the mean over all (image, class) pairs
with a non-empty union, a third aggregation.  They can rank methods differently.
"""
from __future__ import annotations

import math
from dataclasses import replace

from ..numerics import safe_divide
from ..validation import check_choice

EMPTY = ("skip", "zero", "one")
AVERAGES = ("macro", "micro", "weighted", "none", "binary")
AGGREGATES = ("image", "dataset", "none")
_FILL = {"skip": math.nan, "zero": 0.0, "one": 1.0}


_CHOICES = {"average": AVERAGES + (None,), "aggregate": AGGREGATES, "empty": EMPTY}


def check_options(**options):
    """Validate each option given (``None`` too: only ``average=None`` has a meaning, per class)."""
    for name, value in options.items():
        check_choice(value, name, _CHOICES[name])


def foreground(c, include_background, average):
    """The counts ``c`` without class 0 when ``include_background`` is False (validated here)."""
    if not isinstance(include_background, bool):
        raise TypeError(f"include_background must be True or False, got {include_background!r}")
    if include_background:
        return c
    if resolve_average(average) == "binary":
        raise ValueError("include_background=False does not combine with average='binary', which scores "
                         "class 1 alone already")
    # the full matrix is dropped: a class-wise metric reads only the one-vs-rest tables
    return replace(c, tp=c.tp[:, 1:], fp=c.fp[:, 1:], fn=c.fn[:, 1:], tn=c.tn[:, 1:], matrix=None)


def resolve_average(average):
    """``average=None`` is scikit-learn's "per class", our ``"none"``."""
    return "none" if average is None else average


def ratio(xp, num, den, empty):
    """``num / den`` with the ``empty`` policy where ``den == 0`` (a NaN anywhere stays NaN)."""
    return safe_divide(xp, num, den, zero=_FILL[empty])


def nanmean(xp, values, axis):
    """Mean over ``axis`` leaving NaN out; NaN where nothing is left (no warnings, no sync)."""
    ok = ~xp.isnan(values)
    total = xp.sum(xp.where(ok, values, 0.0), axis=axis)
    count = xp.sum(xp.astype(ok, values.dtype), axis=axis)
    return safe_divide(xp, total, count, zero=math.nan)


def reduce_classes(xp, num, den, support, average, empty):
    """Per-item, per-class ratios ``(K, C)`` -> ``(K, C)`` (none) or ``(K,)``."""
    average = resolve_average(average)
    if average == "micro":
        return ratio(xp, xp.sum(num, axis=1), xp.sum(den, axis=1), empty)
    if average == "binary":
        if num.shape[1] != 2:
            raise ValueError(f"average='binary' needs a two-class problem (num_classes=2 or one input "
                             f"channel); got {num.shape[1]} classes")
        return ratio(xp, num[:, 1], den[:, 1], empty)
    values = ratio(xp, num, den, empty)
    if average == "none":
        return values
    if average == "macro":
        return nanmean(xp, values, axis=1)
    ok = ~xp.isnan(values)                                   # weighted by support, NaN left out
    w = xp.where(ok, support, 0.0)
    return ratio(xp, xp.sum(xp.where(ok, values, 0.0) * w, axis=1), xp.sum(w, axis=1), empty)


def over_images(xp, values, aggregate, dtype):
    """``(K, ...)`` per-item values -> the aggregate, cast to the metric dtype."""
    if aggregate == "dataset":
        out = values[0, ...]
    elif aggregate == "image":
        out = nanmean(xp, values, axis=0)
    else:
        out = values
    return xp.astype(out, dtype)


def classwise(c, parts, *, average, aggregate, empty, include_background=True):
    """A ratio metric ``parts(counts) -> (num, den)`` (both ``(K, C)`` float64), averaged and aggregated."""
    check_options(average=average, aggregate=aggregate, empty=empty)
    c = foreground(c, include_background, average)
    if aggregate == "dataset":
        c = c.pooled()
    num, den = parts(c)
    values = reduce_classes(c.xp, num, den, c.f64(c.support), average, empty)
    return over_images(c.xp, values, aggregate, c.dtype)


def scalarwise(c, parts, *, aggregate, empty):
    """A whole-matrix ratio ``parts(counts) -> (num, den)`` (both ``(K,)``), aggregated over images."""
    check_options(aggregate=aggregate, empty=empty)
    if aggregate == "dataset":
        c = c.pooled()
    num, den = parts(c)
    return over_images(c.xp, ratio(c.xp, num, den, empty), aggregate, c.dtype)
