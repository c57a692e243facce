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

import functools
import inspect
import math
from dataclasses import dataclass, replace
from typing import Any

from .. import examples as ex
from .. import primitives as P
from ..catalogue import register
from ..numerics import safe_divide
from ..inputs import Hard, hard_labels  # noqa: F401  (hard_labels lives in segmath.inputs)
from ..validation import check_choice, value_checks_enabled

__all__ = ["confusion_matrix"]

INPUT_OPTIONS = {"num_classes": None, "ignore_index": None, "from_logits": True, "threshold": 0.5}


def counts_metric(form):
    """One definition per count metric: ``form(counts, **options)`` becomes the public metric.

    The public function ``name(input, target, *, num_classes, ignore_index, from_logits,
    threshold, **options)`` validates the inputs, forms the confusion :class:`Counts` and
    calls ``form``; ``form`` stays reachable as ``.from_counts``, which is what
    :class:`~segmath.metrics.ConfusionState` evaluates on its accumulated counts (the
    ``_update`` / ``_compute`` split of torchmetrics, declared once).  Registering the
    public function in the catalogue is then the only registration a metric needs.
    """
    options = form_options(form)

    @functools.wraps(form)
    def metric(input, target, *, num_classes=None, ignore_index=None, from_logits=True, threshold=0.5,
               **kwargs):
        check_keywords(form.__name__, kwargs, options, also=tuple(INPUT_OPTIONS))
        c = counts(input, target, num_classes=num_classes, ignore_index=ignore_index, from_logits=from_logits,
                   threshold=threshold)
        return with_guard(c.xp, form(c, **kwargs), c.guard)

    head = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in ("input", "target")]
    head += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, d in INPUT_OPTIONS.items()]
    metric.__signature__ = inspect.Signature(head + list(options.values()))
    metric.from_counts = form
    return metric


def form_options(form):
    params = list(inspect.signature(form).parameters.values())[1:]
    if any(p.kind != inspect.Parameter.KEYWORD_ONLY for p in params):
        raise TypeError(f"the options of the counts form {form.__name__} must be keyword-only")
    return {p.name: p for p in params}


def check_keywords(name, given, options, also=(), fixed=()):
    """A mistyped option names the public metric and lists its options (``also``: more accepted
    names to list; ``fixed``: names set elsewhere, for a ConfusionState when it is created)."""
    unknown = [k for k in given if k not in options]
    if unknown:
        where = f"; {', '.join(fixed)} are fixed when the state is created" if fixed else ""
        raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r}; its options are "
                        f"{', '.join((*also, *options))}{where}")


def score_guard(hard: Hard):
    """NaN when a score was NaN or inf and value checks are off, else None (see :meth:`Hard.nan_guard`)."""
    return None if value_checks_enabled() else hard.nan_guard()


def with_guard(xp, value, guard):
    """``value``, or NaN everywhere when ``guard`` is NaN: an arg-max must not turn a NaN score into a
    class.  An integer result (a confusion matrix of counts) cannot hold NaN and is returned as is."""
    if guard is None or not xp.isdtype(value.dtype, "real floating"):
        return value
    return xp.where(xp.isnan(guard), xp.full_like(value, math.nan), value)


def counts_metrics() -> dict:
    """Catalogue id -> public metric, for every metric computable from confusion counts."""
    from ..catalogue import catalogue
    return {e.id: e.fn for e in catalogue("metric") if hasattr(e.fn, "from_counts")}


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
    spatial: tuple = ()   # spatial shape of the images; a ConfusionState knows only the rank: (None,) * ndim
    guard: Any = None     # 0-d NaN when the scores held NaN/inf (value checks off), else None

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
    return replace(counts_from_matrix(hard.xp, confusion(hard), hard.dtype), spatial=hard.spatial,
                   guard=score_guard(hard))


# -- the public confusion matrix ---------------------------------------------

NORMALIZE = (None, "true", "pred", "all")


def _example(seed):
    x, y = ex.multiclass(seed, ignore_index=255)
    return (x, y), {"ignore_index": 255}


@register("confusion_matrix", kind="metric", name="Confusion matrix", example=_example,
          references=("long2015fully",), chapter="01_counts",
          formula=r"M_{ij} = \#\{s : y_s = i,\ \hat y_s = j\}")
@counts_metric
def confusion_matrix(c, *, aggregate="dataset", normalize=None):
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

    With value checks off, NaN scores make a normalised matrix NaN; the integer counts of
    ``normalize=None`` cannot hold a NaN and count such a pixel under its arg-max.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
        >>> segmath.confusion_matrix(p, y, num_classes=2).tolist()
        [[1, 0], [1, 2]]
    """
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
        # rows/columns without pixels stay 0 (scikit-learn does the same)
        m = xp.astype(safe_divide(xp, m, xp.sum(m, axis=axis, keepdims=True)), c.dtype)
    return m[0] if aggregate == "dataset" else m