r"""Confusion counts: the sufficient statistics of every overlap and confusion metric.

For a hard prediction :math:`\hat y` and a target :math:`y` (class labels), image
:math:`n` has the confusion matrix

.. math:: M_{n,ij} = \#\{\text{counted pixels } s : y_s = i,\ \hat y_s = j\}

(rows: target, columns: prediction, as in scikit-learn).  Per class,
:math:`TP = M_{cc}`, :math:`FN = \sum_j M_{cj} - TP`, :math:`FP = \sum_i M_{ic} - TP`
and :math:`TN` is the rest; every metric of this package is a short formula in them.

All per-image matrices come from **one** scatter-add over the combined index
``t * C + p`` (NumPy: one ``bincount`` over ``n*C*C + t*C + p``).  On torch the
scatter-add is used rather than ``torch.bincount`` because ``bincount`` reads the
maximum of its input back to the host to size its output, a device sync.
Ignored pixels get weight 0 instead of being removed, so no shape depends on the
data.

Inputs (:func:`hard_labels`): ``input`` is hard labels ``(N, *spatial)`` (an integer
dtype; ``num_classes`` required) or scores ``(N, C, *spatial)`` (floating: the arg-max
over ``C``; ``C = 1`` is binary, the positive class where the sigmoid probability, or
the probability itself with ``from_logits=False``, exceeds ``threshold``).  ``target``
is integer labels ``(N, *spatial)`` or one-hot ``(N, C, *spatial)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .. import examples as ex
from .. import primitives as P
from ..catalogue import register
from ..pair import make_pair
from ..primitives.argmax import argmax_class
from ..validation import (check_array, check_choice, check_ignore_index, check_labels, check_same_kind,
                          check_scalar, value_checks_enabled)

__all__ = ["confusion_matrix"]

#: metric name -> function of :class:`Counts`; used by :class:`segmath.metrics.ConfusionState`.
FROM_COUNTS: dict = {}


def from_counts(name):
    """Register the counts-level form of a metric (what the streaming state computes)."""
    def deco(fn):
        FROM_COUNTS[name] = fn
        return fn
    return deco


# -- inputs ------------------------------------------------------------------

@dataclass
class Hard:
    """Validated hard labels, flattened: ``pred`` and ``true`` ``(N, S)`` int64 in [0, C)."""
    xp: Any
    pred: Any
    true: Any
    valid: Any            # (N, S) bool, False at ignored pixels; None when nothing is ignored
    num_classes: int
    dtype: Any            # floating dtype of the metric values
    spatial: tuple


def hard_labels(input, target, *, num_classes=None, ignore_index=None, from_logits=True,
                threshold=0.5) -> Hard:
    """Validate ``(input, target)`` and turn both into hard labels (see the module docstring)."""
    check_array(input, "input", min_ndim=2)
    check_scalar(threshold, "threshold", low=0, high=1)
    ignore_index = check_ignore_index(ignore_index)
    if num_classes is not None:
        check_scalar(num_classes, "num_classes", low=2, integer=True)
    xp = P.namespace(input)
    if xp.isdtype(input.dtype, "real floating"):
        return _from_scores(input, target, num_classes, ignore_index, from_logits, threshold)
    return _from_labels(input, target, num_classes, ignore_index)


def _logit(t):
    """The logit of a probability threshold, with the ends mapped to -inf and inf."""
    if t <= 0:
        return -math.inf
    if t >= 1:
        return math.inf
    return math.log(t) - math.log1p(-t)


def _from_scores(input, target, num_classes, ignore_index, from_logits, threshold):
    pair = make_pair(input, target, from_logits=from_logits, ignore_index=ignore_index, soft_target=False)
    xp, c = pair.xp, pair.num_classes
    k = 2 if c == 1 else c
    if num_classes is not None and num_classes != k:
        raise ValueError(f"num_classes={num_classes} does not match input with {c} channel(s) "
                         f"({k} classes)")
    if c == 1:
        # compare logits with logit(threshold): exact where sigmoid saturates in float32
        cut = _logit(threshold) if from_logits else threshold
        pred = xp.astype(pair.input[:, 0, :] > cut, xp.int64)
        true = xp.astype(pair.dense[:, 0, :] > 0.5, xp.int64)
    else:
        pred = argmax_class(pair.input)
        true = pair.labels if pair.labels is not None else _onehot_labels(xp, pair.dense, "target")
    return Hard(xp=xp, pred=xp.astype(pred, xp.int64), true=true, valid=pair.valid, num_classes=k,
                dtype=pair.input.dtype, spatial=pair.spatial)


def _onehot_labels(xp, dense, name):
    """(N, C, S) one-hot in {0, 1} -> (N, S) labels; each pixel must have exactly one 1."""
    if value_checks_enabled() and bool(xp.any(xp.sum(dense, axis=1) != 1)):
        raise ValueError(f"{name} of per-class shape must be one-hot: exactly one 1 per pixel")
    return argmax_class(dense)


def _from_labels(input, target, num_classes, ignore_index):
    check_array(input, "input", min_ndim=2, floating=False)
    if num_classes is None:
        raise ValueError("num_classes is required when input holds hard labels (it fixes the output "
                         "shape; inferring it from the data would make the shape data-dependent)")
    check_array(target, "target", min_ndim=1)
    check_same_kind(input, target, "input", "target")
    xp = P.namespace(input)
    n, spatial = input.shape[0], tuple(input.shape[1:])
    pred = xp.astype(xp.reshape(input, (n, -1)), xp.int64)
    check_labels(pred, "input", num_classes)
    if tuple(target.shape) == tuple(input.shape):
        if not (xp.isdtype(target.dtype, "integral") or target.dtype == xp.bool):
            raise TypeError(f"target of shape {tuple(target.shape)} holds class labels and must have an "
                            f"integer dtype, got {target.dtype}")
        true = xp.astype(xp.reshape(target, (n, -1)), xp.int64)
        check_labels(true, "target", num_classes, ignore_index)
    elif tuple(target.shape) == (n, num_classes) + spatial:
        if ignore_index is not None:
            raise ValueError("ignore_index applies to integer label targets; target is one-hot")
        dense = xp.reshape(target, (n, num_classes, -1))
        if value_checks_enabled() and bool(xp.any((dense != 0) & (dense != 1))):
            raise ValueError("target of per-class shape must hold 0/1 values (one-hot)")
        true = _onehot_labels(xp, dense, "target")
    else:
        raise ValueError(f"target must have shape {tuple(input.shape)} (labels) or "
                         f"{(n, num_classes) + spatial} (one-hot) to match input of shape "
                         f"{tuple(input.shape)}; got {tuple(target.shape)}")
    valid = None
    if ignore_index is not None:
        valid = true != ignore_index
        true = xp.where(valid, true, xp.zeros_like(true))
    return Hard(xp=xp, pred=pred, true=true, valid=valid, num_classes=num_classes,
                dtype=P.float_dtype(input), spatial=spatial)


# -- counts ------------------------------------------------------------------

def confusion(hard: Hard):
    """Per-image confusion matrices ``(N, C, C)`` int64 (rows target, columns prediction)."""
    xp, c = hard.xp, hard.num_classes
    index = hard.true * c + hard.pred
    ones = xp.ones_like(index) if hard.valid is None else xp.astype(hard.valid, xp.int64)
    flat = P.class_sums(ones, index, c * c)        # one scatter-add / bincount for the whole batch
    return xp.reshape(flat, (index.shape[0], c, c))


@dataclass
class Counts:
    """Per-image (or pooled, K = 1) confusion counts ``(K, C)`` int64 and the metric dtype."""
    xp: Any
    tp: Any
    fp: Any
    fn: Any
    tn: Any
    dtype: Any
    matrix: Any = None    # (K, C, C) when the full matrices are known
    spatial: tuple = ()   # spatial shape of the images, when known

    @property
    def num_classes(self) -> int:
        return self.tp.shape[1]

    @property
    def support(self):
        return self.tp + self.fn

    @property
    def predicted(self):
        return self.tp + self.fp

    def pooled(self) -> "Counts":
        """Counts summed over images (the dataset statistics), K = 1."""
        xp = self.xp
        total = {k: xp.sum(getattr(self, k), axis=0, keepdims=True) for k in ("tp", "fp", "fn", "tn")}
        matrix = None if self.matrix is None else xp.sum(self.matrix, axis=0, keepdims=True)
        return replace(self, matrix=matrix, **total)

    def f64(self, x):
        """Counts as float64: the ratios are formed in double precision (the arrays are tiny)."""
        return self.xp.astype(x, self.xp.float64)


def counts_from_matrix(xp, matrix, dtype) -> Counts:
    """:class:`Counts` from ``(K, C, C)`` confusion matrices."""
    k, c = matrix.shape[0], matrix.shape[1]
    tp = xp.reshape(matrix, (k, c * c))[:, ::c + 1]      # the diagonal
    support = xp.sum(matrix, axis=2)
    predicted = xp.sum(matrix, axis=1)
    total = xp.sum(support, axis=1, keepdims=True)
    fp, fn = predicted - tp, support - tp
    return Counts(xp=xp, tp=tp, fp=fp, fn=fn, tn=total - tp - fp - fn, dtype=dtype, matrix=matrix)


def counts_from_tp_fp_fn(xp, tp, fp, fn, dtype) -> Counts:
    """:class:`Counts` from per-class tp, fp, fn ``(K, C)`` (tn from the per-image pixel total)."""
    total = xp.sum(tp + fn, axis=1, keepdims=True)
    return Counts(xp=xp, tp=tp, fp=fp, fn=fn, tn=total - tp - fp - fn, dtype=dtype)


def counts(input, target, *, num_classes=None, ignore_index=None, from_logits=True, threshold=0.5) -> Counts:
    """Validated inputs -> per-image :class:`Counts` (with the full matrices)."""
    hard = hard_labels(input, target, num_classes=num_classes, ignore_index=ignore_index,
                       from_logits=from_logits, threshold=threshold)
    return replace(counts_from_matrix(hard.xp, confusion(hard), hard.dtype), spatial=hard.spatial)


# -- the public confusion matrix ---------------------------------------------

NORMALIZE = (None, "true", "pred", "all")


def _example(seed):
    x, y = ex.multiclass(seed, ignore_index=255)
    return (x, y), {"ignore_index": 255}


@from_counts("confusion_matrix")
def _confusion_matrix(c: Counts, *, aggregate="dataset", normalize=None):
    check_choice(aggregate, "aggregate", ("dataset", "none"))
    check_choice(normalize, "normalize", NORMALIZE)
    if c.matrix is None:
        raise ValueError("the confusion matrix needs the full per-image matrices; these counts hold only "
                         "per-class tp/fp/fn (use aggregate='dataset' on a ConfusionState)")
    xp = c.xp
    m = c.pooled().matrix if aggregate == "dataset" else c.matrix
    if normalize is not None:
        axis = {"true": (2,), "pred": (1,), "all": (1, 2)}[normalize]
        m = c.f64(m)
        den = xp.sum(m, axis=axis, keepdims=True)
        # rows/columns without pixels stay 0 (scikit-learn does the same)
        m = xp.astype(xp.where(den > 0, m / xp.where(den > 0, den, 1.0), 0.0), c.dtype)
    return m[0] if aggregate == "dataset" else m


@register("confusion_matrix", kind="metric", name="Confusion matrix", example=_example,
          references=("long2015fully",), chapter="01_counts",
          formula=r"M_{ij} = \#\{s : y_s = i,\ \hat y_s = j\}")
def confusion_matrix(input, target, *, num_classes=None, ignore_index=None, from_logits=True, threshold=0.5,
                     aggregate="dataset", normalize=None):
    r"""Confusion matrix: rows are target classes, columns predicted classes.

    .. math:: M_{ij} = \#\{\text{counted pixels } s : y_s = i,\ \hat y_s = j\}

    Args:
        input: ``(N, C, *spatial)`` scores (arg-max over ``C``; ``C = 1``: sigmoid probability
            ``> threshold``) or ``(N, *spatial)`` integer labels (then ``num_classes`` is required).
        target: ``(N, *spatial)`` integer labels or ``(N, C, *spatial)`` one-hot.
        ignore_index: target label whose pixels are not counted.
        aggregate: ``"dataset"`` (the ``(C, C)`` matrix summed over images) or ``"none"``
            (``(N, C, C)``, one per image).
        normalize: ``None`` (counts, int64), ``"true"`` (rows sum to 1: recall on the diagonal),
            ``"pred"`` (columns sum to 1: precision) or ``"all"`` (entries sum to 1).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> segmath.confusion_matrix(p, y, num_classes=2).tolist()
        [[1, 0], [1, 2]]
    """
    c = counts(input, target, num_classes=num_classes, ignore_index=ignore_index, from_logits=from_logits,
               threshold=threshold)
    return _confusion_matrix(c, aggregate=aggregate, normalize=normalize)
