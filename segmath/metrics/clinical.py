r"""Metrics Reloaded's decision metrics from the confusion counts: Youden's J, LR+, net benefit, EC.

Per class :math:`c`, one-vs-rest (``P = TP + FN`` pixels of the class, ``N = TN + FP`` the others,
``n = P + N`` counted pixels):

.. math::
    J = \frac{TP}{P} + \frac{TN}{N} - 1 = \frac{TP\,TN - FP\,FN}{P\,N}, \qquad
    \mathrm{LR}^+ = \frac{TP / P}{FP / N}, \qquad
    \mathrm{NB} = \frac{TP}{n} - \frac{FP}{n}\,\frac{p_t}{1 - p_t}.

The expected cost uses the whole matrix: :math:`\mathrm{EC} = \frac{1}{n}\sum_{ij} c_{ij} M_{ij}`
(the priors are the empirical class frequencies).  The three one-vs-rest metrics take
``average`` like :func:`segmath.recall` (``"binary"``: class 1 of a two-class problem; ``"micro"``:
the one-vs-rest tables of all classes summed into one, then the formula); ``aggregate`` and
``empty`` follow :mod:`segmath.metrics.average`.
"""
from __future__ import annotations

__all__ = ["youden_index", "likelihood_ratio_positive", "net_benefit", "expected_cost"]

import math

import numpy as np

from .. import primitives as P
from ..catalogue import register
from ..validation import check_scalar
from .average import check_options, foreground, over_images, ratio, reduce_classes, resolve_average
from .confusion import counts_metric
from .rates import _example, _example_none   # one-vs-rest rates too: the same catalogue inputs


def one_vs_rest(c, values, *, average, aggregate, empty, include_background=True):
    """``values(xp, tp, fp, fn, tn, empty)`` per class (float64 ``(K, C)``), averaged and aggregated.

    Unlike :func:`~segmath.metrics.average.classwise`, "micro" pools the one-vs-rest tables
    before the formula: these metrics are not one ratio whose terms could be summed.
    """
    check_options(average=average, aggregate=aggregate, empty=empty)
    c = foreground(c, include_background, average)
    if aggregate == "dataset":
        c = c.pooled()
    xp = c.xp
    tables = [c.f64(t) for t in (c.tp, c.fp, c.fn, c.tn)]
    if resolve_average(average) == "micro":
        out = values(xp, *[xp.sum(t, axis=1, keepdims=True) for t in tables], empty)[:, 0]
    else:
        per_class = values(xp, *tables, empty)
        # the values are final: reduce them as ratios over 1 (macro, weighted, binary, none)
        out = reduce_classes(xp, per_class, xp.ones_like(per_class), c.f64(c.support), average, empty)
    return over_images(xp, out, aggregate, c.dtype)


def _youden(xp, tp, fp, fn, tn, empty):
    # one ratio, undefined exactly when the class or its complement is absent (P N = 0)
    return ratio(xp, tp * tn - fp * fn, (tp + fn) * (tn + fp), empty)


def _lr_positive(xp, tp, fp, fn, tn, empty):
    num, den = tp * (tn + fp), fp * (tp + fn)
    out = ratio(xp, num, den, empty)
    # no false positive but some true positive: FPR = 0 < TPR, the ratio is +inf (not undefined)
    return xp.where((den == 0) & (num > 0), xp.full_like(out, math.inf), out)


def _net_benefit(weight):
    def values(xp, tp, fp, fn, tn, empty):
        return ratio(xp, tp - weight * fp, tp + fp + fn + tn, empty)
    return values


@register("youden_index", kind="metric", name="Youden's index (informedness)", example=_example_none,
          references=("youden1950index", "maierhein2024metrics"), chapter=None,
          formula=r"J = \frac{TP}{TP + FN} + \frac{TN}{TN + FP} - 1")
@counts_metric
def youden_index(c, *, average="macro", aggregate="image", empty="skip", include_background=True):
    r"""Youden's index :math:`J` (informedness): sensitivity + specificity - 1, per class one-vs-rest.

    .. math:: J_{nc} = \frac{TP_{nc}}{P_{nc}} + \frac{TN_{nc}}{N_{nc}} - 1
              = \frac{TP_{nc}\,TN_{nc} - FP_{nc}\,FN_{nc}}{P_{nc}\,N_{nc}}

    It lies in [-1, 1]; 0 for a prediction independent of the target (any constant one
    included), 1 for a perfect one.  Undefined (``empty``) where the class is absent from the
    target (:math:`P = 0`) or fills every counted pixel (:math:`N = 0`).

    Args:
        input, target, num_classes, ignore_index, from_logits, threshold: as in :func:`segmath.iou`.
        average: ``"macro"`` (default), ``"micro"`` (the one-vs-rest tables summed, then :math:`J`),
            ``"weighted"`` (by class support), ``"none"`` / ``None`` (per class), ``"binary"``.
        aggregate: ``"image"`` (default), ``"dataset"`` or ``"none"``.
        empty: ``"skip"`` (default), ``"zero"`` or ``"one"``.
        include_background: ``False``: class 0 left out before averaging (MONAI's and torchmetrics' ``include_background``).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> [round(v, 6) for v in segmath.youden_index(p, y, num_classes=2, average="none").tolist()]
        [0.666667, 0.666667]
    """
    return one_vs_rest(c, _youden, average=average, aggregate=aggregate, empty=empty,
        include_background=include_background)


@register("likelihood_ratio_positive", kind="metric", name="Positive likelihood ratio (LR+)",
          example=_example_none, references=("maierhein2024metrics",), chapter=None,
          formula=r"\mathrm{LR}^+ = \frac{TP / (TP + FN)}{FP / (FP + TN)}")
@counts_metric
def likelihood_ratio_positive(c, *, average="macro", aggregate="image", empty="skip",
                              include_background=True):
    r"""Positive likelihood ratio: sensitivity over the false positive rate, per class one-vs-rest.

    .. math:: \mathrm{LR}^+_{nc} = \frac{TP_{nc} / P_{nc}}{FP_{nc} / N_{nc}}
              = \frac{TP_{nc}\,N_{nc}}{FP_{nc}\,P_{nc}}

    How much a positive prediction multiplies the odds of the class; 1 for an uninformative
    prediction.  It is ``+inf`` where there are true positives and no false positive (a limit,
    not an undefined value: ``empty`` does not change it, and a mean over such items is ``inf``).
    Undefined (``empty``) where :math:`P = 0`, :math:`N = 0`, or :math:`TP = FP = 0`
    (nothing predicted: 0/0).  Options as in :func:`youden_index`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [0, 1], [1, 1]]]); p = np.array([[[0, 1], [1, 1], [0, 1]]])
        >>> segmath.likelihood_ratio_positive(p, y, num_classes=2, average="none").tolist()
        [2.0, 1.5]
    """
    return one_vs_rest(c, _lr_positive, average=average, aggregate=aggregate, empty=empty,
        include_background=include_background)


@register("net_benefit", kind="metric", name="Net benefit (decision curve analysis)", example=_example_none,
          references=("vickers2006decision", "maierhein2024metrics"), chapter=None,
          formula=r"\mathrm{NB} = \frac{TP}{n} - \frac{FP}{n}\,\frac{p_t}{1 - p_t}")
@counts_metric
def net_benefit(c, *, threshold_probability=0.5, average="macro", aggregate="image", empty="skip",
                include_background=True):
    r"""Net benefit (Vickers & Elkin): true positives per pixel, less false positives weighted by the odds of ``p_t``.

    .. math:: \mathrm{NB}_{nc} = \frac{TP_{nc}}{n_n} - \frac{FP_{nc}}{n_n}\,\frac{p_t}{1 - p_t}

    with :math:`n_n` the counted pixels of image :math:`n` and :math:`p_t` the threshold
    probability at which a reader is indifferent between acting and not (a false positive
    costs :math:`p_t/(1-p_t)` true positives).  One-vs-rest per class; at most the class
    prevalence (a perfect prediction), and 0 for predicting nothing.  Undefined (``empty``)
    only for an image without counted pixels.  ``threshold_probability`` is the weight in the
    formula, not the ``threshold`` that binarises a sigmoid input.

    Args:
        threshold_probability: :math:`p_t \in (0, 1)`; the default 0.5 weighs a false positive as
            much as a true positive.
        average, aggregate, empty, include_background: as in :func:`youden_index` (``"micro"``: the one-vs-rest
            tables summed).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[1, 1], [0, 1]]])
        >>> segmath.net_benefit(p, y, num_classes=2, average="binary", threshold_probability=0.2).tolist()
        0.4375
    """
    check_scalar(threshold_probability, "threshold_probability", low=0, high=1, low_open=True, high_open=True)
    weight = float(threshold_probability) / (1.0 - float(threshold_probability))
    return one_vs_rest(c, _net_benefit(weight), average=average, aggregate=aggregate, empty=empty,
        include_background=include_background)


def _cost_matrix(costs, c):
    """``costs`` as a validated ``(C, C)`` float64 array beside the counts (default: 0 on the diagonal, 1 off it)."""
    k = c.num_classes
    if costs is None:
        host = 1.0 - np.eye(k)
    else:
        try:
            host = np.asarray(P.to_numpy(costs), dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"costs must be a ({k}, {k}) array of real numbers, got {type(costs).__name__}") from err
        if host.shape != (k, k):
            raise ValueError(f"costs must have shape ({k}, {k}) (rows target, columns prediction), "
                             f"got {host.shape}")
        if not np.all(np.isfinite(host)) or np.any(host < 0):
            raise ValueError("costs must be finite and non-negative")
    return P.asarray_like(host, c.tp, dtype=c.xp.float64)


@register("expected_cost", kind="metric", name="Expected cost (EC)", example=_example,
          references=("maierhein2024metrics", "ferrer2022analysis"), chapter=None,
          formula=r"\mathrm{EC} = \frac{1}{n}\sum_{i,j} c_{ij} M_{ij}")
@counts_metric
def expected_cost(c, *, costs=None, normalize=False, aggregate="image", empty="skip"):
    r"""Expected cost of the decisions: the mean cost per pixel under a cost matrix.

    .. math::
        \begin{aligned}
        \mathrm{EC}_n &= \sum_{i} \pi_{ni} \sum_j c_{ij} \frac{M_{nij}}{\sum_j M_{nij}}
              = \frac{1}{n_n}\sum_{i,j} c_{ij} M_{nij},\\
        \mathrm{NEC}_n &= \frac{\mathrm{EC}_n}{\min_j \sum_i \pi_{ni} c_{ij}}
        \end{aligned}

    :math:`M_n` is the confusion matrix of image :math:`n` (rows target :math:`i`, columns
    prediction :math:`j`), :math:`\pi_{ni}` its empirical class frequencies and :math:`c_{ij}`
    the cost of predicting :math:`j` for :math:`i`.  With the default costs (0 on the
    diagonal, 1 off it) EC is the error rate ``1 - pixel_accuracy``.  ``normalize=True`` gives
    the normalised expected cost (Ferrer 2022, the form Metrics Reloaded recommends): EC over
    the cost of the best constant prediction, so 1 means "no better than always answering one
    class" and values above 1 are worse than that.  Lower is better for both.

    Args:
        costs: ``(C, C)`` finite, non-negative cost matrix (NumPy, torch or nested lists); ``None``: 0-1 costs.
        normalize: ``False`` (EC, default) or ``True`` (NEC).
        aggregate: ``"image"`` (default), ``"dataset"`` or ``"none"``.
        empty: value where undefined: an image without counted pixels, or, for NEC, a zero cost
            of the best constant prediction (e.g. one class present and a zero diagonal).

    Needs the full confusion matrices: a :class:`~segmath.metrics.ConfusionState` keeps them
    for ``aggregate="dataset"`` only.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> float(segmath.expected_cost(p, y, num_classes=2, costs=[[0, 1], [5, 0]]))   # one FN at cost 5, 4 pixels
        1.25
    """
    check_options(aggregate=aggregate, empty=empty)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be True or False, got {normalize!r}")
    if c.matrix is None:
        raise ValueError("expected_cost needs the full per-image confusion matrices; these counts hold only "
                         "per-class tp/fp/fn (use aggregate='dataset' on a ConfusionState)")
    cost = _cost_matrix(costs, c)
    if aggregate == "dataset":
        c = c.pooled()
    xp = c.xp
    m = c.f64(c.matrix)
    total = xp.sum(xp.sum(m * cost, axis=2), axis=1)
    if normalize:
        # the cost of always predicting j is sum_i support_i c_ij; the best such j is the reference
        den = xp.min(xp.sum(c.f64(c.support)[:, :, None] * cost, axis=1), axis=1)
    else:
        den = xp.sum(c.f64(c.support), axis=1)
    return over_images(xp, ratio(xp, total, den, empty), aggregate, c.dtype)
