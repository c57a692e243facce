r"""Chance-corrected agreement of the whole confusion matrix: MCC and Cohen's kappa.

With :math:`s` counted pixels, :math:`\pi_k = (TP_k + FP_k)/s` the predicted and
:math:`\tau_k = (TP_k + FN_k)/s` the target class frequencies and
:math:`a = \sum_k TP_k / s` the accuracy:

.. math::
    \mathrm{MCC} = \frac{a - \sum_k \pi_k \tau_k}
                        {\sqrt{\left(1 - \sum_k \pi_k^2\right)\left(1 - \sum_k \tau_k^2\right)}},
    \qquad
    \kappa = \frac{a - \sum_k \pi_k \tau_k}{1 - \sum_k \pi_k \tau_k}.

MCC is Gorodkin's :math:`R_K` (Matthews' coefficient for two classes); both are 0 for
a prediction independent of the target and 1 for a perfect one.  MCC is undefined when
the prediction or the target is a single class everywhere (scikit-learn then returns 0;
here ``empty`` decides: ``"skip"`` NaN, ``"zero"`` 0 like scikit-learn, ``"one"`` 1), kappa
when both are the same single class.  The "1 - sum of squares" factors are computed as
:math:`\sum_k \pi_k (1 - \pi_k)`, which has no cancellation.
"""
from __future__ import annotations

__all__ = ["mcc", "cohen_kappa"]

from .. import examples as ex
from .. import primitives as P
from ..catalogue import register
from ..numerics import safe_divide
from ..validation import check_choice
from .average import check_options, over_images, ratio, scalarwise
from .confusion import counts_metric


def _example(seed):
    x, y = ex.multiclass(seed)
    return (x, y), {}


def _frequencies(c):
    """Accuracy, predicted and target frequencies per item; ``s > 0`` mask for the empty ones."""
    xp = c.xp
    s = xp.sum(c.f64(c.support), axis=1, keepdims=True)
    a = safe_divide(xp, xp.sum(c.f64(c.tp), axis=1), s[:, 0])
    return a, safe_divide(xp, c.f64(c.predicted), s), safe_divide(xp, c.f64(c.support), s), s[:, 0] != 0


def _mcc_parts(c):
    xp = c.xp
    a, pi, tau, nonempty = _frequencies(c)
    num = a - xp.sum(pi * tau, axis=1)
    den = xp.sqrt(xp.sum(pi * (1.0 - pi), axis=1) * xp.sum(tau * (1.0 - tau), axis=1))
    return num, xp.where(nonempty, den, xp.zeros_like(den))


@register("mcc", kind="metric", name="Matthews correlation coefficient", example=_example,
          references=("matthews1975comparison", "gorodkin2004comparing", "chicco2020advantages"),
          chapter="02_balanced",
          formula=r"\mathrm{MCC} = \frac{TP\,TN - FP\,FN}{\sqrt{(TP+FP)(TP+FN)(TN+FP)(TN+FN)}}")
@counts_metric
def mcc(c, *, aggregate="image", empty="skip"):
    r"""Matthews correlation coefficient (multi-class: Gorodkin's :math:`R_K`).

    .. math::
        \begin{aligned}
        \mathrm{MCC} &= \frac{a - \sum_k \pi_k \tau_k}{\sqrt{(1 - \sum_k \pi_k^2)(1 - \sum_k \tau_k^2)}}\\
        &\overset{C=2}{=} \frac{TP\,TN - FP\,FN}{\sqrt{(TP+FP)(TP+FN)(TN+FP)(TN+FN)}}
        \end{aligned}

    (notation in the module docstring).  It lies in [-1, 1] and, unlike accuracy and F1,
    is high only when every cell of the confusion matrix is good.

    Args:
        input, target, num_classes, ignore_index, from_logits, threshold: as in :func:`segmath.iou`.
        aggregate: ``"image"`` (MCC per image, then the mean), ``"dataset"`` (of the summed
            confusion matrix: scikit-learn's ``matthews_corrcoef`` on all pixels) or ``"none"`` (``(N,)``).
        empty: value where MCC is undefined (a constant prediction or target): ``"skip"``
            (NaN, left out of the mean), ``"zero"`` (scikit-learn) or ``"one"``.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> round(float(segmath.mcc(p, y, num_classes=2)), 6)   # (1*2 - 1*0) / sqrt(2*3*1*2)
        0.57735
    """
    return scalarwise(c, _mcc_parts, aggregate=aggregate, empty=empty)


WEIGHTINGS = (None, "linear", "quadratic")


def _kappa_parts(c):
    xp = c.xp
    a, pi, tau, nonempty = _frequencies(c)
    expected = xp.sum(pi * tau, axis=1)
    den = 1.0 - expected
    return a - expected, xp.where(nonempty, den, xp.zeros_like(den))


def _weighted_kappa(c, weighting, empty):
    """1 - sum(W O) / sum(W E) with W_ij = |i - j| or (i - j)^2, O, E observed/expected frequencies."""
    xp = c.xp
    if c.matrix is None:
        raise ValueError("weighted kappa needs the full confusion matrix of each item; a ConfusionState keeps "
                         "it only for aggregate='dataset'")
    _, pi, tau, nonempty = _frequencies(c)
    k = c.num_classes
    idx = xp.astype(xp.arange(k, device=P.device(c.tp)), xp.float64)
    w = xp.abs(idx[:, None] - idx[None, :])
    if weighting == "quadratic":
        w = w * w
    s = xp.sum(c.f64(c.support), axis=1)
    observed = safe_divide(xp, c.f64(c.matrix), s[:, None, None])
    expected = tau[:, :, None] * pi[:, None, :]
    we = xp.sum(xp.reshape(w * expected, (expected.shape[0], -1)), axis=1)
    wo = xp.sum(xp.reshape(w * observed, (observed.shape[0], -1)), axis=1)
    return ratio(xp, we - wo, xp.where(nonempty, we, xp.zeros_like(we)), empty)


@register("cohen_kappa", kind="metric", name="Cohen's kappa", example=_example,
          references=("cohen1960coefficient", "cohen1968weighted"), chapter="02_balanced",
          formula=r"\kappa = \frac{p_o - p_e}{1 - p_e}")
@counts_metric
def cohen_kappa(c, *, weighting=None, aggregate="image", empty="skip"):
    r"""Cohen's kappa: agreement between prediction and target beyond chance.

    .. math:: \kappa = \frac{p_o - p_e}{1 - p_e}, \qquad p_o = \sum_k \frac{TP_k}{s},
              \qquad p_e = \sum_k \pi_k \tau_k

    ``weighting="linear"`` / ``"quadratic"`` gives weighted kappa
    :math:`1 - \sum_{ij} w_{ij} O_{ij} / \sum_{ij} w_{ij} E_{ij}` with
    :math:`w_{ij} = |i - j|` or :math:`(i - j)^2` (for ordered classes).

    Args:
        input, target, num_classes, ignore_index, from_logits, threshold: as in :func:`segmath.iou`.
        weighting: ``None`` (default), ``"linear"`` or ``"quadratic"`` (scikit-learn's ``weights``).
        aggregate: ``"image"`` (default), ``"dataset"`` (scikit-learn's ``cohen_kappa_score`` on
            all pixels) or ``"none"``.
        empty: value where kappa is undefined (prediction and target the same single class).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> float(segmath.cohen_kappa(p, y, num_classes=2))   # (3/4 - 1/2) / (1 - 1/2)
        0.5
    """
    check_choice(weighting, "weighting", WEIGHTINGS)
    if weighting is None:
        return scalarwise(c, _kappa_parts, aggregate=aggregate, empty=empty)
    check_options(aggregate=aggregate, empty=empty)
    if aggregate == "dataset":
        c = c.pooled()
    return over_images(c.xp, _weighted_kappa(c, weighting, empty), aggregate, c.dtype)