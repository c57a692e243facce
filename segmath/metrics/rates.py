r"""Rates of the confusion matrix: precision, recall, specificity and the accuracies.

.. math::
    \mathrm{precision} = \frac{TP}{TP + FP}, \quad \mathrm{recall} = \frac{TP}{TP + FN}, \quad
    \mathrm{specificity} = \frac{TN}{TN + FP}, \quad
    \mathrm{pixel\ accuracy} = \frac{\sum_c TP_c}{\sum_c (TP_c + FN_c)}.

Mean accuracy (mmsegmentation's ``mAcc``, Long et al.'s "mean accuracy") and balanced
accuracy (scikit-learn's ``balanced_accuracy_score``) are the same number, the macro mean
of per-class recall; ``balanced_accuracy`` adds the chance adjustment.  Undefined ratios
follow ``empty`` (recall is undefined for a class absent from the target, precision for
a class never predicted); see :mod:`segmath.metrics.average` for ``average``,
``aggregate`` and ``empty``.
"""
from __future__ import annotations

__all__ = ["precision", "recall", "specificity", "pixel_accuracy", "mean_accuracy", "balanced_accuracy"]

from .. import examples as ex
from ..catalogue import register
from .average import check_options, nanmean, over_images, ratio
from .average import classwise
from .confusion import counts_metric


def _example(seed):
    x, y = ex.multiclass(seed)
    return (x, y), {}


def _example_none(seed):
    x, y = ex.multiclass(seed, ignore_index=-1)
    return (x, y), {"average": "none", "ignore_index": -1}


def _precision_parts(c):
    tp = c.f64(c.tp)
    return tp, tp + c.f64(c.fp)


def _recall_parts(c):
    tp = c.f64(c.tp)
    return tp, tp + c.f64(c.fn)


def _specificity_parts(c):
    tn = c.f64(c.tn)
    return tn, tn + c.f64(c.fp)


@register("precision", kind="metric", name="Precision (positive predictive value)", example=_example_none,
          references=("vanrijsbergen1979information",), chapter="01_counts",
          formula=r"\mathrm{PPV} = \frac{TP}{TP + FP}")
@counts_metric
def precision(c, *, average="macro", aggregate="image", empty="skip", include_background=True):
    r"""Precision: the fraction of predicted pixels of a class that belong to it.

    .. math:: \mathrm{PPV}_{nc} = \frac{TP_{nc}}{TP_{nc} + FP_{nc}}

    Undefined (``empty``) for a class that is never predicted.

    Args:
        input: ``(N, C, *spatial)`` scores (arg-max; ``C = 1``: sigmoid probability ``> threshold``)
            or ``(N, *spatial)`` integer labels with ``num_classes``.
        target: ``(N, *spatial)`` integer labels or ``(N, C, *spatial)`` one-hot.
        ignore_index: target label whose pixels are not counted.
        average: ``"macro"`` (default), ``"micro"``, ``"weighted"``, ``"none"`` (per class; ``None``
            means the same, as in scikit-learn), ``"binary"``.
        aggregate: ``"image"`` (default), ``"dataset"`` or ``"none"``.
        empty: ``"skip"`` (default), ``"zero"`` or ``"one"``.
        include_background: ``False``: class 0 left out before averaging (MONAI's and torchmetrics' ``include_background``).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> segmath.precision(p, y, num_classes=2, average="none").tolist()
        [0.5, 1.0]
    """
    return classwise(c, _precision_parts, average=average, aggregate=aggregate, empty=empty,
        include_background=include_background)


@register("recall", kind="metric", name="Recall (sensitivity, true positive rate)", example=_example,
          references=("vanrijsbergen1979information",), chapter="01_counts",
          formula=r"\mathrm{TPR} = \frac{TP}{TP + FN}")
@counts_metric
def recall(c, *, average="macro", aggregate="image", empty="skip", include_background=True):
    r"""Recall (sensitivity): the fraction of the pixels of a class that are found.

    .. math:: \mathrm{TPR}_{nc} = \frac{TP_{nc}}{TP_{nc} + FN_{nc}}

    Undefined (``empty``) for a class absent from the target, whatever the prediction.
    Options as in :func:`precision`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> segmath.recall(p, y, num_classes=2, average="none").tolist()
        [1.0, 0.6666666666666666]
    """
    return classwise(c, _recall_parts, average=average, aggregate=aggregate, empty=empty,
        include_background=include_background)


@register("specificity", kind="metric", name="Specificity (true negative rate)", example=_example,
          references=("brodersen2010balanced",), chapter="01_counts",
          formula=r"\mathrm{TNR} = \frac{TN}{TN + FP}")
@counts_metric
def specificity(c, *, average="macro", aggregate="image", empty="skip", include_background=True):
    r"""Specificity: the fraction of the pixels outside a class that are kept outside it.

    .. math:: \mathrm{TNR}_{nc} = \frac{TN_{nc}}{TN_{nc} + FP_{nc}}

    Specificity of class :math:`c` is the recall of "not :math:`c`"; with background
    dominating an image it is close to 1 for any reasonable prediction, which is why
    segmentation rarely reports it alone.  Options as in :func:`precision`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> segmath.specificity(p, y, num_classes=2, average="none").tolist()
        [0.6666666666666666, 1.0]
    """
    return classwise(c, _specificity_parts, average=average, aggregate=aggregate, empty=empty,
        include_background=include_background)


@register("pixel_accuracy", kind="metric", name="Pixel accuracy", example=_example,
          references=("long2015fully",), chapter="01_counts",
          formula=r"\mathrm{acc} = \frac{\sum_c TP_c}{\sum_c (TP_c + FN_c)}")
@counts_metric
def pixel_accuracy(c, *, aggregate="image", empty="skip"):
    r"""Pixel accuracy: the fraction of counted pixels labelled correctly.

    .. math:: \mathrm{acc}_n = \frac{\sum_c TP_{nc}}{\sum_c (TP_{nc} + FN_{nc})}

    Equal to micro-averaged recall, precision and F1.  Under class imbalance it is dominated
    by the largest class (predicting background everywhere scores the background fraction).
    ``aggregate="dataset"`` is scikit-learn's ``accuracy_score`` on all counted pixels;
    ``empty`` applies to images whose pixels are all ignored.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> float(segmath.pixel_accuracy(p, y, num_classes=2))
        0.75
    """
    return classwise(c, _recall_parts, average="micro", aggregate=aggregate, empty=empty)


@register("mean_accuracy", kind="metric", name="Mean (class) accuracy", example=_example,
          references=("long2015fully",), chapter="08_multiclass",
          formula=r"\mathrm{mAcc} = \frac{1}{C}\sum_c \frac{TP_c}{TP_c + FN_c}")
@counts_metric
def mean_accuracy(c, *, aggregate="image", empty="skip", include_background=True):
    r"""Mean accuracy: the mean over classes of per-class recall (mmsegmentation's ``mAcc``).

    .. math:: \mathrm{mAcc}_n = \frac{1}{|\mathcal C_n|}\sum_{c \in \mathcal C_n}
              \frac{TP_{nc}}{TP_{nc} + FN_{nc}}

    With ``empty="skip"`` :math:`\mathcal C_n` holds the classes present in the target.
    The same number as :func:`balanced_accuracy` (without its chance adjustment).
    ``include_background=False`` leaves class 0 out of the mean.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> round(float(segmath.mean_accuracy(p, y, num_classes=2)), 6)   # (1 + 2/3) / 2
        0.833333
    """
    return classwise(c, _recall_parts, average="macro", aggregate=aggregate, empty=empty,
        include_background=include_background)


@register("balanced_accuracy", kind="metric", name="Balanced accuracy", example=_example,
          references=("brodersen2010balanced",), chapter="02_balanced",
          formula=r"\mathrm{BA} = \frac{1}{C}\sum_c \frac{TP_c}{TP_c + FN_c}")
@counts_metric
def balanced_accuracy(c, *, adjusted=False, aggregate="image", empty="skip"):
    r"""Balanced accuracy: the mean of per-class recall; for two classes (TPR + TNR) / 2.

    .. math:: \mathrm{BA} = \frac{1}{|\mathcal C|}\sum_{c \in \mathcal C} \frac{TP_c}{TP_c + FN_c},
              \qquad \mathrm{BA}_{adj} = \frac{\mathrm{BA} - 1/|\mathcal C|}{1 - 1/|\mathcal C|}

    It is the accuracy the classifier would have if every class were equally frequent, so it
    does not reward predicting the majority class (BA = 1/C for any constant prediction, C the number of classes).
    ``adjusted=True`` rescales chance to 0 and perfection to 1 (scikit-learn's ``adjusted``).
    With ``empty="skip"``, :math:`\mathcal C` holds the classes present in the target, as in
    scikit-learn.  Options as in :func:`mean_accuracy`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> round(float(segmath.balanced_accuracy(p, y, num_classes=2, adjusted=True)), 6)
        0.666667
    """
    check_options(aggregate=aggregate, empty=empty)
    if not isinstance(adjusted, bool):
        raise TypeError(f"adjusted must be True or False, got {adjusted!r}")
    if aggregate == "dataset":
        c = c.pooled()
    xp = c.xp
    num, den = _recall_parts(c)
    per_class = ratio(xp, num, den, empty)
    score = nanmean(xp, per_class, axis=1)
    if adjusted:  # (score - 1/k) / (1 - 1/k), k = number of classes in the mean
        k = xp.sum(xp.astype(~xp.isnan(per_class), xp.float64), axis=1)
        chance = ratio(xp, xp.ones_like(k), k, "skip")
        score = ratio(xp, score - chance, 1.0 - chance, empty)
    return over_images(xp, score, aggregate, c.dtype)