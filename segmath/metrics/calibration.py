r"""Calibration of pixel probabilities: expected calibration error and the Brier score.

A predictor is calibrated when, among the pixels predicted with confidence :math:`q`,
a fraction :math:`q` is right.  The **expected calibration error** estimates the gap by
binning the confidences (Naeini et al. 2015; Guo et al. 2017):

.. math:: \mathrm{ECE} = \sum_{b=1}^{B} \frac{n_b}{n}\,\bigl|\mathrm{acc}_b - \mathrm{conf}_b\bigr|
          = \frac{1}{n}\sum_b \Bigl|\sum_{i \in b} (\mathbb 1[\hat y_i = y_i] - q_i)\Bigr|.

* Multi-class (``C >= 2``): *top-label* ECE, :math:`q_i = \max_c p_{ic}` and the event
  "the arg-max is right" (torchmetrics ``MulticlassCalibrationError``).
* Binary (``C = 1``): the positive-class probability :math:`q_i = p_i` against the label
  :math:`y_i` (torchmetrics ``BinaryCalibrationError``).  For top-label binary ECE pass the
  two logits :math:`(0, x)` as a two-channel input.

``binning="width"`` uses :math:`B` equal-width bins :math:`[b/B, (b+1)/B)` (the last one
closed); ``binning="mass"`` uses bins of equal count (Nixon et al. 2019's adaptive ECE):
consecutive ranks of the sorted confidences, sizes :math:`\lfloor n/B\rfloor` or
:math:`\lceil n/B\rceil`, ties broken arbitrarily.  ECE is a biased estimator (it
depends on :math:`B`, and is positive in expectation even for a calibrated predictor);
the book's chapter 2 measures the bias.  ``norm="l2"`` gives the root-mean-square
calibration error, ``norm="max"`` the maximum calibration error over non-empty bins.

The **Brier score** is the mean squared error of the probability vector (Brier 1950):
:math:`\frac{1}{n}\sum_i \sum_c (p_{ic} - y_{ic})^2` in [0, 2] for ``C >= 2``, and the binary
form :math:`\frac{1}{n}\sum_i (p_i - y_i)^2` in [0, 1] for ``C = 1``.  A two-channel binary
input scores twice its one-channel form (scikit-learn's ``scale_by_half``).  It is a
strictly proper scoring rule.

Both pool all counted pixels by default (``aggregate="dataset"``, the convention of the
calibration literature); ``"image"`` averages per-image values, ``"none"`` returns them.
"""
from __future__ import annotations

__all__ = ["expected_calibration_error", "brier_score"]

import math

from .. import examples as ex
from .. import primitives as P
from ..catalogue import register
from ..inputs import make_pair
from ..numerics import clip_negative
from ..primitives.argmax import max_class
from ..validation import check_choice, check_scalar
from .average import check_options, over_images, ratio

BINNINGS = ("width", "mass")
NORMS = ("l1", "l2", "max")


def _example_ece(seed):
    x, y = ex.multiclass(seed, spatial=(6, 8))
    return (x, y), {"n_bins": 10}


def _example_brier(seed):
    x, y = ex.multiclass(seed, ignore_index=255)
    return (x, y), {"ignore_index": 255}


def _flat(pair, aggregate, *arrays):
    """Per-image (N, S) arrays, or pooled to one row (1, N*S) for ``aggregate="dataset"``."""
    if aggregate != "dataset":
        return arrays
    return tuple(pair.xp.reshape(a, (1, -1)) for a in arrays)


def _weights(pair):
    xp = pair.xp
    if pair.valid is None:
        return xp.ones((pair.batch, pair.input.shape[2]), dtype=pair.input.dtype, device=P.device(pair.input))
    return xp.astype(pair.valid, pair.input.dtype)


def _confidence(pair):
    """Top-label confidence and correctness (N, S); binary: p(y = 1) and y."""
    xp, p = pair.xp, P.detach(pair.prob)
    if pair.num_classes == 1:
        return p[:, 0, :], pair.dense[:, 0, :]
    conf, pred = max_class(p)
    if pair.labels is not None:
        return conf, xp.astype(pred == pair.labels, p.dtype)
    return conf, P.gather_class(pair.dense, pred)   # soft targets: the probability the arg-max is right


def _bin_sums(xp, conf, correct, w, n_bins, binning):
    """Per-row, per-bin sums of weights, confidences and correctness: three (K, B) arrays."""
    if binning == "width":
        bins = xp.clip(xp.astype(xp.floor(conf * n_bins), xp.int64), 0, n_bins - 1)
    else:
        key = xp.where(w > 0, conf, -math.inf)        # ignored pixels sort last
        _, order = P.sort_desc(key, axis=-1)
        conf, correct, w = (P.take_along(a, order, axis=-1) for a in (conf, correct, w))
        m = xp.astype(xp.sum(w > 0, axis=1, keepdims=True), xp.int64)
        rank = xp.arange(conf.shape[1], device=P.device(conf))[None, :]
        share = (rank * n_bins) // xp.where(m > 0, m, xp.ones_like(m))
        bins = xp.where(rank < m, share, n_bins)      # bin n_bins collects the ignored pixels
    sums = [P.class_sums(v, bins, n_bins + 1)[:, :n_bins] for v in (w, conf * w, correct * w)]
    return tuple(sums)


@register("expected_calibration_error", kind="metric", name="Expected calibration error", example=_example_ece,
          references=("naeini2015obtaining", "guo2017calibration", "nixon2019measuring"), chapter="02_balanced",
          formula=r"\mathrm{ECE} = \sum_b \frac{n_b}{n} |\mathrm{acc}_b - \mathrm{conf}_b|")
def expected_calibration_error(input, target, *, n_bins=15, binning="width", norm="l1", ignore_index=None,
                               from_logits=True, aggregate="dataset"):
    r"""Expected calibration error of pixel probabilities (top-label for ``C >= 2``).

    .. math::
        \begin{aligned}
        \mathrm{ECE} &= \sum_b \frac{n_b}{n}\,|\mathrm{acc}_b - \mathrm{conf}_b|,\\
        \mathrm{RMSCE} &= \Bigl(\sum_b \frac{n_b}{n}(\mathrm{acc}_b - \mathrm{conf}_b)^2\Bigr)^{1/2},\\
        \mathrm{MCE} &= \max_{b: n_b > 0} |\mathrm{acc}_b - \mathrm{conf}_b|
        \end{aligned}

    Args:
        input: ``(N, C, *spatial)`` logits (probabilities with ``from_logits=False``); ``C = 1`` binary.
        target: ``(N, *spatial)`` labels or ``(N, C, *spatial)`` one-hot / soft targets.
        n_bins: number of bins :math:`B` (default 15, as torchmetrics).
        binning: ``"width"`` (equal-width bins) or ``"mass"`` (equal-count bins).
        norm: ``"l1"`` (ECE), ``"l2"`` (RMS calibration error) or ``"max"`` (MCE).
        ignore_index: target label whose pixels are not counted.
        aggregate: ``"dataset"`` (all pixels pooled, default), ``"image"`` (per image, then the
            mean) or ``"none"`` (``(N,)``).

    Example:
        >>> import numpy as np, segmath
        >>> p = np.array([[[[0.9, 0.9, 0.6, 0.6]]]]); y = np.array([[[1, 0, 1, 1]]])
        >>> # bins [0.9, 1]: conf 0.9, acc 1/2; [0.6, 0.7): conf 0.6, acc 1 -> (2*0.4 + 2*0.4) / 4
        >>> round(float(segmath.expected_calibration_error(p, y, from_logits=False, n_bins=10)), 6)
        0.4
    """
    check_scalar(n_bins, "n_bins", low=1, integer=True)
    check_choice(binning, "binning", BINNINGS)
    check_choice(norm, "norm", NORMS)
    check_options(aggregate=aggregate)
    pair = make_pair(input, target, from_logits=from_logits, ignore_index=ignore_index)
    xp = pair.xp
    conf, correct = _confidence(pair)
    conf, correct, w = _flat(pair, aggregate, conf, correct, _weights(pair))
    count, sconf, scorr = _bin_sums(xp, conf, correct, w, n_bins, binning)
    n = xp.sum(count, axis=1)
    gap = xp.abs(scorr - sconf)
    if norm == "l1":
        value = ratio(xp, xp.sum(gap, axis=1), n, "skip")
    else:
        per_bin = ratio(xp, gap, count, "zero")            # |acc_b - conf_b|, 0 for empty bins
        if norm == "l2":
            value = xp.sqrt(ratio(xp, xp.sum(per_bin * gap, axis=1), n, "skip"))
        else:
            value = xp.where(n == 0, math.nan, xp.max(per_bin, axis=1))   # no pixel: undefined
    return over_images(xp, value, aggregate, pair.input.dtype)


@register("brier_score", kind="metric", name="Brier score", example=_example_brier,
          references=("brier1950verification",), chapter="02_balanced",
          formula=r"\mathrm{BS} = \frac{1}{n}\sum_i \sum_c (p_{ic} - y_{ic})^2")
def brier_score(input, target, *, ignore_index=None, from_logits=True, aggregate="dataset"):
    r"""Brier score: mean squared error of the predicted probabilities.

    .. math::
        \begin{aligned}
        \mathrm{BS} &= \frac{1}{n}\sum_i \sum_c (p_{ic} - y_{ic})^2 &&(C \ge 2),\\
        \mathrm{BS} &= \frac{1}{n}\sum_i (p_i - y_i)^2 &&(C = 1)
        \end{aligned}

    With label targets the sum is :math:`\sum_c p_{ic}^2 - 2 p_{i y_i} + 1` (a gather, no
    one-hot).  Soft targets ``(N, C, *spatial)`` are allowed.

    Args:
        input: ``(N, C, *spatial)`` logits (probabilities with ``from_logits=False``); ``C = 1`` binary.
        target: ``(N, *spatial)`` labels or ``(N, C, *spatial)`` per-class targets in [0, 1].
        ignore_index: target label whose pixels are not counted.
        aggregate: ``"dataset"`` (default), ``"image"`` or ``"none"`` (``(N,)``).

    Example:
        >>> import numpy as np, segmath
        >>> p = np.array([[[[0.9, 0.2]]]]); y = np.array([[[1, 0]]])
        >>> round(float(segmath.brier_score(p, y, from_logits=False)), 6)   # (0.01 + 0.04) / 2
        0.025
    """
    check_options(aggregate=aggregate)
    pair = make_pair(input, target, from_logits=from_logits, ignore_index=ignore_index)
    xp, p = pair.xp, P.detach(pair.prob)
    if pair.labels is not None:
        per = xp.sum(p * p, axis=1) - 2.0 * P.gather_class(p, pair.labels) + 1.0
        per = clip_negative(xp, per)   # rounding can dip below 0 at p = one-hot; a NaN stays NaN
    else:
        d = p - pair.dense
        per = xp.sum(d * d, axis=1)
    per, w = _flat(pair, aggregate, per, _weights(pair))
    value = ratio(xp, xp.sum(per * w, axis=1), xp.sum(w, axis=1), "skip")
    return over_images(xp, value, aggregate, pair.input.dtype)

