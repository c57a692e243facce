r"""Overlap metrics on hard masks: IoU (Jaccard), Dice (F1), :math:`F_\beta`, volume difference.

Per image and class, from the confusion counts of :mod:`segmath.metrics.confusion`:

.. math::
    J = \frac{TP}{TP + FP + FN}, \qquad D = \frac{2\,TP}{2\,TP + FP + FN} = \frac{2J}{1 + J},
    \qquad F_\beta = \frac{(1 + \beta^2)\,TP}{(1 + \beta^2)\,TP + \beta^2 FN + FP}.

Options shared by all (see :mod:`segmath.metrics.average`): ``empty`` (the value of
an undefined ratio: ``"skip"``, ``"zero"``, ``"one"``), ``average`` (over classes:
``"macro"``, ``"micro"``, ``"weighted"``, ``"none"``, ``"binary"``) and ``aggregate``
(over images: ``"image"``, ``"dataset"``, ``"none"``).  ``mean_iou`` is the macro mean
of ``iou``; with ``aggregate="dataset"`` it is the Cityscapes / mmsegmentation mIoU,
with the default ``aggregate="image"`` the mean over images of per-image mIoU.
"""
from __future__ import annotations

__all__ = ["iou", "mean_iou", "fw_iou", "dice_score", "fbeta_score", "volume_difference"]

import math

from .. import examples as ex
from ..catalogue import register
from ..validation import check_scalar, check_spacing
from .average import check_options, classwise, over_images, reduce_classes
from .confusion import counts_metric


def _example_multiclass(seed):
    x, y = ex.multiclass(seed)
    return (x, y), {}


def _example_ignore(seed):
    x, y = ex.multiclass(seed, ignore_index=255)
    return (x, y), {"ignore_index": 255}


def _example_binary(seed):
    x, y = ex.binary(seed)
    return (x, y), {"average": "binary"}


def _iou_parts(c):
    tp = c.f64(c.tp)
    return tp, tp + c.f64(c.fp) + c.f64(c.fn)


def _fbeta_parts(beta):
    b2 = float(beta) ** 2

    def parts(c):
        tp = (1.0 + b2) * c.f64(c.tp)
        return tp, tp + b2 * c.f64(c.fn) + c.f64(c.fp)
    return parts


@register("iou", kind="metric", name="Intersection over union (Jaccard index)", example=_example_ignore,
          references=("jaccard1912distribution", "everingham2010pascal"), chapter="01_counts",
          formula=r"J = \frac{TP}{TP + FP + FN}", theorems=("verify_dice_jaccard_bijection",))
@counts_metric
def iou(c, *, average="none", aggregate="image", empty="skip", include_background=True):
    r"""Intersection over union (Jaccard index) of hard masks, per class by default.

    .. math:: J_{nc} = \frac{TP_{nc}}{TP_{nc} + FP_{nc} + FN_{nc}}

    Args:
        input: ``(N, C, *spatial)`` scores (arg-max over ``C``; ``C = 1``: sigmoid probability
            ``> threshold``) or ``(N, *spatial)`` integer labels with ``num_classes``.
        target: ``(N, *spatial)`` integer labels or ``(N, C, *spatial)`` one-hot.
        ignore_index: target label whose pixels are not counted.
        average: ``"none"`` (default, ``(C,)``; ``None`` means the same, as in scikit-learn),
            ``"macro"``, ``"micro"``, ``"weighted"``, ``"binary"``.
        aggregate: ``"image"`` (per image, then the mean over images), ``"dataset"`` (counts
            summed over images first) or ``"none"`` (per image: ``(N, C)`` or ``(N,)``).
        empty: value where the union is empty: ``"skip"`` (NaN, left out of means), ``"zero"``, ``"one"``.
        include_background: ``False``: class 0 left out before averaging (MONAI's and torchmetrics' ``include_background``).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> segmath.iou(p, y, num_classes=2).tolist()   # class 0: 1/2, class 1: 2/3
        [0.5, 0.6666666666666666]
    """
    return classwise(c, _iou_parts, average=average, aggregate=aggregate, empty=empty,
        include_background=include_background)


@register("mean_iou", kind="metric", name="Mean IoU (mIoU)", example=_example_multiclass,
          references=("everingham2010pascal", "cordts2016cityscapes", "long2015fully", "csurka2013good",
                      "wang2023revisiting"),
          chapter="08_multiclass", formula=r"\mathrm{mIoU} = \frac{1}{C}\sum_c \frac{TP_c}{TP_c + FP_c + FN_c}",
          theorems=("verify_aggregation_changes_ranking",))
@counts_metric
def mean_iou(c, *, aggregate="image", empty="skip", include_background=True):
    r"""Mean IoU: the macro mean over classes of :func:`iou`.

    .. math:: \mathrm{mIoU} = \frac{1}{|\mathcal C|}\sum_{c \in \mathcal C} J_c

    ``aggregate="dataset"`` sums the confusion counts over all images first: the benchmark
    mIoU of PASCAL VOC, Cityscapes and mmsegmentation.  ``aggregate="image"`` (default)
    averages per-image mIoU over images (Wang et al. 2023's :math:`\mathrm{mIoU}^I`); the
    two differ and can rank methods differently.  torchmetrics' ``MeanIoU`` is neither
    (see :mod:`segmath.metrics.average`).  With ``empty="skip"``, :math:`\mathcal C` holds the classes with a
    non-empty union.

    Args:
        input, target, num_classes, ignore_index, from_logits, threshold: as in :func:`iou`.
        aggregate: ``"image"``, ``"dataset"`` or ``"none"`` (per-image mIoU, ``(N,)``).
        empty: ``"skip"``, ``"zero"`` or ``"one"`` (see :mod:`segmath.metrics.average`).
        include_background: ``False``: class 0 left out before averaging (MONAI's and torchmetrics' ``include_background``).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> round(float(segmath.mean_iou(p, y, num_classes=2)), 6)   # (1/2 + 2/3) / 2
        0.583333
    """
    return classwise(c, _iou_parts, average="macro", aggregate=aggregate, empty=empty,
        include_background=include_background)


@register("fw_iou", kind="metric", name="Frequency-weighted IoU", example=_example_multiclass,
          references=("long2015fully",), chapter="08_multiclass",
          formula=r"\mathrm{fwIoU} = \sum_c \frac{TP_c + FN_c}{\sum_k (TP_k + FN_k)} \frac{TP_c}{TP_c + FP_c + FN_c}")
@counts_metric
def fw_iou(c, *, aggregate="image", empty="skip", include_background=True):
    r"""Frequency-weighted IoU (Long et al. 2015): IoU averaged with weights the class frequency.

    .. math:: \mathrm{fwIoU} = \frac{\sum_c t_c J_c}{\sum_c t_c}, \qquad t_c = TP_c + FN_c

    A class with target pixels always has a non-empty union, so ``empty`` matters only for
    images without any counted pixel.  Options as in :func:`mean_iou`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> round(float(segmath.fw_iou(p, y, num_classes=2)), 6)   # (1 * 1/2 + 3 * 2/3) / 4
        0.625
    """
    return classwise(c, _iou_parts, average="weighted", aggregate=aggregate, empty=empty,
        include_background=include_background)


@register("dice_score", kind="metric", name="Dice score (F1)", example=_example_binary,
          references=("dice1945measures",), chapter="01_counts",
          formula=r"D = \frac{2\,TP}{2\,TP + FP + FN}",
          theorems=("verify_dice_jaccard_bijection", "verify_aggregation_changes_ranking"))
@counts_metric
def dice_score(c, *, average="macro", aggregate="image", empty="skip", include_background=True):
    r"""Dice score (Sørensen–Dice coefficient, F1) of hard masks.

    .. math:: D_{nc} = \frac{2\,TP_{nc}}{2\,TP_{nc} + FP_{nc} + FN_{nc}} = \frac{2 J_{nc}}{1 + J_{nc}}

    Options as in :func:`iou`, but ``average`` defaults to ``"macro"``; ``"binary"`` gives the
    foreground Dice of a two-class problem.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> segmath.dice_score(p, y, num_classes=2, average="none").tolist()   # 2/3 and 4/5
        [0.6666666666666666, 0.8]
    """
    return classwise(c, _fbeta_parts(1.0), average=average, aggregate=aggregate, empty=empty,
        include_background=include_background)


def _example_fbeta(seed):
    x, y = ex.multiclass(seed)
    return (x, y), {"beta": 2.0, "average": "weighted"}


@register("fbeta_score", kind="metric", name="F-beta score", example=_example_fbeta,
          references=("vanrijsbergen1979information",), chapter="01_counts",
          formula=r"F_\beta = \frac{(1+\beta^2)\,TP}{(1+\beta^2)\,TP + \beta^2 FN + FP}")
@counts_metric
def fbeta_score(c, *, beta=1.0, average="macro", aggregate="image", empty="skip",
                include_background=True):
    r""":math:`F_\beta` score: recall weighted :math:`\beta` times as much as precision.

    .. math:: F_\beta = \frac{(1+\beta^2)\,TP}{(1+\beta^2)\,TP + \beta^2 FN + FP}

    :math:`\beta = 1` is Dice, :math:`\beta = 0` precision, :math:`\beta \to \infty` recall.
    It is undefined only when :math:`TP = FP = FN = 0` (scikit-learn >= 1.3 agrees).
    Options as in :func:`dice_score`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> round(float(segmath.fbeta_score(p, y, beta=2.0, num_classes=2, average="binary")), 6)
        0.714286
    """
    check_scalar(beta, "beta", low=0)
    return classwise(c, _fbeta_parts(beta), average=average, aggregate=aggregate, empty=empty,
        include_background=include_background)


def _voxel_volume(spacing, spatial):
    """Product of the voxel spacing, checked against the spatial rank (also known to a ConfusionState)."""
    return math.prod(check_spacing(spacing, len(spatial)))


@register("volume_difference", kind="metric", name="(Relative) volume difference", example=_example_binary,
          references=("taha2015metrics",), chapter="01_counts",
          formula=r"\mathrm{RVD} = \frac{|V_{\hat y} - V_y|}{V_y} = \frac{|FP - FN|}{TP + FN}")
@counts_metric
def volume_difference(c, *, relative=True, signed=False, spacing=None, average="binary", aggregate="image",
                      empty="skip"):
    r"""Volume difference between prediction and target, relative to the target volume by default.

    .. math:: \mathrm{RVD}_{nc} = \frac{|V^{\hat y}_{nc} - V^{y}_{nc}|}{V^{y}_{nc}}
              = \frac{|FP_{nc} - FN_{nc}|}{TP_{nc} + FN_{nc}}

    A volume error says nothing about overlap: a prediction of the right size in the wrong
    place scores 0.

    Args:
        input, target, num_classes, ignore_index, from_logits, threshold: as in :func:`iou`.
        relative: divide by the target volume (default) or return the difference in volume units.
        signed: keep the sign (:math:`V^{\hat y} - V^{y}`: positive = over-segmentation).
        spacing: voxel spacing (a number or one per spatial axis, positive); it scales the result
            for ``relative=False`` and cancels in the ratio for ``relative=True`` (checked in both).
        average: ``"binary"`` (default: class 1, foreground) or any other class average; ``"micro"``
            is :math:`\sum_c |\Delta V_c| / \sum_c V^y_c`.
        aggregate: ``"image"``, ``"dataset"`` or ``"none"``.
        empty: value for an empty target volume (relative only): ``"skip"``, ``"zero"``, ``"one"``.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [1, 0]]])
        >>> float(segmath.volume_difference(p, y, num_classes=2, signed=True))   # (2 - 3) / 3
        -0.3333333333333333
    """
    check_options(average=average, aggregate=aggregate, empty=empty)
    for name, flag in (("relative", relative), ("signed", signed)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if aggregate == "dataset":
        c = c.pooled()
    xp = c.xp
    voxel = _voxel_volume(spacing, c.spatial)     # checked even where it cancels (relative=True)
    diff = c.f64(c.fp) - c.f64(c.fn)              # V_pred - V_true, per class
    if not signed:
        diff = xp.abs(diff)
    if relative:
        den = c.f64(c.support)
    else:
        diff, den = diff * voxel, xp.ones_like(diff)
    values = reduce_classes(xp, diff, den, c.f64(c.support), average, empty)
    return over_images(xp, values, aggregate, c.dtype)