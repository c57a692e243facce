"""Inputs every loss and metric starts from: the (prediction, target) pair and hard labels.

Conventions (DESIGN.md section 3):

* ``input`` has shape ``(N, C, *spatial)``: logits when ``from_logits=True`` (the
  default), probabilities otherwise.  ``C == 1`` is a binary problem (sigmoid);
  ``C >= 2`` uses a softmax over the class axis unless ``activation="sigmoid"``
  (multi-label).
* ``target`` is either integer labels ``(N, *spatial)`` or per-class values
  ``(N, C, *spatial)`` (one-hot, multi-label or soft, in [0, 1]).
* ``ignore_index`` marks label pixels that take no part in the loss or metric.

:func:`make_pair` validates a loss's call once and returns a :class:`Pair` holding the
flattened ``(N, C, S)`` arrays, so each formula is a few lines on top of it: the
probabilities, the per-pixel negative log-likelihood (:meth:`Pair.nll`) and the count of
counted pixels (:meth:`Pair.count`) are computed here, once for every loss.
Half-precision inputs are promoted to float32 here (AMP safety: sums over
millions of pixels overflow float16).  :func:`hard_labels` does the same for the
metrics: scores become arg-max (or thresholded) labels.

Non-finite input: with value checks on, a NaN or inf ``input`` raises ``ValueError``
naming it.  The test rides on the min/max pass the other data checks need anyway
(NaN and inf make the min or the max non-finite), and every data check of a call is
read back in one host sync (:class:`~segmath.validation.DataChecks`).  With value
checks off nothing is read back and a NaN propagates to the result
(:meth:`Hard.nan_guard` carries it past the arg-max of the metrics).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import primitives as P
from .primitives.argmax import argmax_class
from .validation import (DataChecks, check_array, check_choice, check_hard, check_ignore_index,
                         check_in_unit_interval, check_label_dtype, check_labels, check_one_hot, check_same_kind,
                         check_scalar, check_scores)

ACTIVATIONS = (None, "softmax", "sigmoid")


@dataclass
class Pair:
    xp: Any
    input: Any            # (N, C, S) float: logits or probabilities
    from_logits: bool
    activation: str       # "softmax" or "sigmoid"
    labels: Any = None    # (N, S) int in [0, C) (softmax with label targets), else None
    dense: Any = None     # (N, C, S) float target, else None
    valid: Any = None     # (N, S) bool, False at ignored pixels; None when nothing is ignored
    spatial: tuple = ()
    raw_labels: Any = None   # (N, S) int64 labels as given (ignore_index not replaced), with labels
    ignore_index: Any = None
    deferred: Any = None     # the label range check left to an indexing kernel (see guarded)
    _cache: dict = field(default_factory=dict, repr=False)

    def guarded(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, with the label range check it makes on the way.

        With ``make_pair(..., defer_label_check=True)`` on a CPU tensor the labels are not
        range-checked before the call (no min/max pass over them): the class-axis ``gather`` /
        ``scatter_add`` / ``nll_loss`` kernels bounds-check every index they read, and an error
        they raise is turned here into the ``ValueError`` naming the target that the separate
        check would have raised.  ``fn`` must read every counted label through such a kernel.
        Without a deferred check this is a plain call (nothing for ``torch.compile`` to trace).
        """
        if self.deferred is None:
            return fn(*args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except (RuntimeError, IndexError) as err:
            name, num_classes = self.deferred
            check_labels(self.raw_labels, name, num_classes, self.ignore_index)   # raises if out of range
            raise err

    @property
    def num_classes(self) -> int:
        return self.input.shape[1]

    @property
    def batch(self) -> int:
        return self.input.shape[0]

    # probabilities and their logs, computed once and stably from logits
    @property
    def prob(self):
        if "prob" not in self._cache:
            x = self.input
            if not self.from_logits:
                p = x
            elif self.activation == "softmax":
                p = P.softmax(x, axis=1)
            else:
                p = P.sigmoid(x)
            self._cache["prob"] = p
        return self._cache["prob"]

    def log_prob(self, eps: float = 1e-12):
        """log p (softmax: log-softmax; sigmoid: log-sigmoid), clamped at log(eps) for probability input."""
        x = self.input
        if self.from_logits:
            return P.log_softmax(x, axis=1) if self.activation == "softmax" else P.log_sigmoid(x)
        return self.xp.log(self.xp.clip(x, eps, 1.0))

    def log_one_minus_prob(self, eps: float = 1e-12):
        """log(1 - p) for the sigmoid case (stable from logits)."""
        x = self.input
        if self.from_logits:
            return P.log_sigmoid(-x)
        return self.xp.log(self.xp.clip(1.0 - x, eps, 1.0))

    def target_dense(self):
        """(N, C, S) float target (one-hot of the labels when the target was labels)."""
        if self.dense is not None:
            return self.dense
        if "onehot" not in self._cache:
            self._cache["onehot"] = P.one_hot(self.labels, self.num_classes, self.input.dtype)
        return self._cache["onehot"]

    # -- the per-pixel negative log-likelihood: one switch over sigmoid / labels / dense ----------

    def nll_terms(self, pos=None, neg=None):
        r"""Per-element negative log-likelihood ``(N, C, S)``.

        Sigmoid: :math:`-[w^+ y\log p + w^- (1-y)\log(1-p)]` per channel (``pos`` = :math:`w^+`,
        ``neg`` = :math:`w^-`, e.g. a ``pos_weight``; from logits without ``neg`` it is the fused
        stable form of ``binary_cross_entropy_with_logits``).  Softmax: :math:`-w^+ y\log p`
        (``neg`` unused).  ``pos``/``neg``: None (1) or arrays broadcasting to ``(N, C, S)``.
        Ignored pixels are not masked here (the reducers do that).
        """
        y = self.target_dense()
        if self.activation == "sigmoid":
            if neg is None and self.from_logits:
                return P.bce_from_logits(self.input, y, pos)
            wy = y if pos is None else pos * y
            wn = 1.0 - y if neg is None else neg * (1.0 - y)
            return -(wy * self.log_prob() + wn * self.log_one_minus_prob())
        wy = y if pos is None else pos * y
        return -(wy * self.log_prob())

    def nll(self, pos=None, neg=None):
        r"""Per-pixel negative log-likelihood ``(N, S)``: :meth:`nll_terms` summed over channels.

        Softmax with label targets takes the log-probability of the true class by a gather
        (no float one-hot), with the class weight ``pos`` ``(B, C, 1)`` gathered the same way.
        """
        if self.labels is None:
            return self.xp.sum(self.nll_terms(pos, neg), axis=1)
        per = (P.ce_from_logits(self.input, self.labels) if self.from_logits
               else -P.gather_class(self.log_prob(), self.labels))
        return per if pos is None else per * self.target_weight(pos)

    def target_weight(self, pos, neg=None):
        r"""``(N, S)`` weight each pixel's target carries in :meth:`nll`: :math:`\sum_c w^+ y + w^-(1-y)`
        (sigmoid; ``neg`` None: 1) or :math:`\sum_c w^+ y` (softmax; a gather for labels)."""
        xp = self.xp
        if self.labels is not None:
            return P.gather_class(xp.broadcast_to(pos, self.input.shape), self.labels)
        y = self.dense
        if self.activation == "sigmoid":
            wn = 1.0 - y if neg is None else neg * (1.0 - y)
            return xp.sum(pos * y + wn, axis=1)
        return xp.sum(pos * y, axis=1)

    # -- counted pixels: the one pixel counter ---------------------------------------------------

    def counted(self):
        """``(N, S)`` float: 1 at counted pixels, 0 at ignored ones."""
        xp = self.xp
        if self.valid is None:
            n, _, s = self.input.shape
            return xp.ones((n, s), dtype=self.input.dtype, device=P.device(self.input))
        return xp.astype(self.valid, self.input.dtype)

    def count(self):
        """``(N, 1)`` float: counted pixels per image (from the shape when nothing is ignored)."""
        xp = self.xp
        if self.valid is None:
            return xp.full((self.batch, 1), float(self.input.shape[2]), dtype=self.input.dtype,
                           device=P.device(self.input))
        return xp.sum(self.counted(), axis=1, keepdims=True)

    def valid_float(self):
        """(N, 1, S) float mask of counted pixels, or None."""
        if self.valid is None:
            return None
        return self.xp.astype(self.valid, self.input.dtype)[:, None, :]

    def masked(self, x):
        """x (N, C, S) with ignored pixels set to zero."""
        v = self.valid_float()
        return x if v is None else x * v


def make_pair(input, target, *, from_logits: bool = True, activation=None, ignore_index=None,
              soft_target: bool = True, input_name: str = "input", target_name: str = "target",
              defer_label_check: bool = False) -> Pair:
    """Validate ``(input, target)`` and return the canonical :class:`Pair`.

    The data checks (``input`` finite, probabilities in [0, 1], labels in range, hard targets)
    share one host sync (:class:`~segmath.validation.DataChecks`).

    ``defer_label_check=True`` (a caller that reads the labels only through bounds-checking torch
    kernels inside :meth:`Pair.guarded`): for softmax label targets on a CPU tensor, eager, the
    range check of the labels is left to those kernels instead of a min/max pass here.  On CUDA
    (an out-of-range index is a device-side assert there, which cannot be caught), on NumPy and
    under ``torch.compile`` the check stays here.
    """
    checks = DataChecks()
    checks.defer_labels = defer_label_check
    pair = _make_pair(input, target, from_logits, activation, ignore_index, soft_target, input_name,
                      target_name, checks)
    checks.resolve()
    return pair


def _make_pair(input, target, from_logits, activation, ignore_index, soft_target, input_name, target_name,
               checks):
    check_array(input, input_name, min_ndim=2, floating=True)
    check_array(target, target_name, min_ndim=1)
    check_same_kind(input, target, input_name, target_name)
    check_choice(activation, "activation", ACTIVATIONS)
    if not isinstance(from_logits, bool):
        raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
    ignore_index = check_ignore_index(ignore_index)
    xp = P.namespace(input)
    n, c = input.shape[0], input.shape[1]
    spatial = tuple(input.shape[2:])
    if activation is None:
        activation = "sigmoid" if c == 1 else "softmax"
    if activation == "softmax" and c == 1:
        raise ValueError(f"{input_name} has a single channel; a softmax over one class is constant. "
                         "Use C = 1 with activation='sigmoid' (binary) or give C >= 2 channels")

    dtype = P.float_dtype(input)
    x = xp.reshape(xp.astype(input, dtype, copy=False), (n, c, -1))
    check_scores(x, input_name, probabilities=not from_logits, checks=checks)

    pair = Pair(xp=xp, input=x, from_logits=from_logits, activation=activation, spatial=spatial)
    label_shape = (n,) + spatial
    if tuple(target.shape) == label_shape and not (c == 1 and target.ndim == input.ndim):
        _set_label_target(pair, target, ignore_index, target_name, checks)
    elif tuple(target.shape) == tuple(input.shape):
        _no_ignore_index(ignore_index, target_name, label_shape, target.shape)
        t = xp.reshape(xp.astype(target, dtype, copy=False), (n, c, -1))
        check_in_unit_interval(t, target_name, checks)
        if not soft_target:
            check_hard(t, target_name, "for this function; soft targets are not supported", checks)
        pair.dense = t
    else:
        raise ValueError(f"{target_name} must have shape {label_shape} (labels) or {tuple(input.shape)} "
                         f"(per-class values) to match {input_name} of shape {tuple(input.shape)}; "
                         f"got {tuple(target.shape)}")
    return pair


def _no_ignore_index(ignore_index, name, label_shape, shape):
    """``ignore_index`` names a label value, so a per-class target cannot use it."""
    if ignore_index is not None:
        raise ValueError("ignore_index applies to integer label targets of shape "
                         f"{tuple(label_shape)}; {name} has per-class shape {tuple(shape)}")


def _flat_labels(target, n, name):
    """Validated-dtype label target ``(N, *spatial)`` -> ``(N, S)`` int64."""
    check_label_dtype(target, name)
    xp = P.namespace(target)
    return xp.astype(xp.reshape(target, (n, -1)), xp.int64, copy=False)


def _split_ignored(labels, ignore_index):
    """(labels with ignored pixels set to class 0, the (N, S) valid mask or None)."""
    if ignore_index is None:
        return labels, None
    xp = P.namespace(labels)
    valid = labels != ignore_index
    return xp.where(valid, labels, xp.zeros_like(labels)), valid


def _can_defer(checks, pair, labels) -> bool:
    """The label range check may ride on the loss's own indexing kernels (see :meth:`Pair.guarded`)."""
    if not (getattr(checks, "defer_labels", False) and checks.enabled and pair.activation == "softmax"
            and P.is_torch(labels) and labels.device.type == "cpu"):
        return False
    import torch
    return not torch.compiler.is_compiling()


def _set_label_target(pair: Pair, target, ignore_index, target_name, checks):
    xp, c = pair.xp, pair.num_classes
    labels = _flat_labels(target, pair.batch, target_name)
    if _can_defer(checks, pair, labels):
        pair.deferred = (target_name, c)
    else:
        check_labels(labels, target_name, 2 if c == 1 else c, ignore_index, checks)
    pair.raw_labels, pair.ignore_index = labels, ignore_index
    labels, pair.valid = _split_ignored(labels, ignore_index)
    if pair.activation == "sigmoid":
        if c != 1:
            raise ValueError(f"activation='sigmoid' with {c} channels is multi-label and needs a per-class "
                             f"{target_name} of shape {tuple(pair.input.shape[:2]) + pair.spatial}")
        pair.dense = xp.astype(labels, pair.input.dtype)[:, None, :]
    else:
        pair.labels = labels


# -- hard labels (metrics) --------------------------------------------------------------

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
    scores: Any = None    # (N, C, S) float scores the labels came from; None for label input

    def nan_guard(self):
        """0-d float: 0 when every score is finite, NaN otherwise (0 for label input).

        An arg-max or a threshold turns a NaN score into an ordinary label.  With value checks
        on, :func:`hard_labels` has already refused non-finite scores; with them off a metric adds
        this value to its result, so a NaN (or inf) score reaches the result instead of being
        counted as a class.  No host sync: it is one elementwise pass and a sum on the device.
        """
        xp = self.xp
        if self.scores is None:
            return xp.asarray(0.0, dtype=self.dtype, device=P.device(self.pred))
        return xp.sum(self.scores * 0.0)   # NaN * 0 and inf * 0 are NaN


def hard_labels(input, target, *, num_classes=None, ignore_index=None, from_logits=True,
                threshold=0.5) -> Hard:
    """Validate ``(input, target)`` and turn both into hard labels (see the module docstring).

    Scores must be finite (with value checks on; see :meth:`Hard.nan_guard` for them off); the
    data checks share one host sync.
    """
    check_array(input, "input", min_ndim=2)
    check_scalar(threshold, "threshold", low=0, high=1)
    ignore_index = check_ignore_index(ignore_index)
    if num_classes is not None:
        check_scalar(num_classes, "num_classes", low=2, integer=True)
    xp = P.namespace(input)
    checks = DataChecks()
    if xp.isdtype(input.dtype, "real floating"):
        hard = _from_scores(input, target, num_classes, ignore_index, from_logits, threshold, checks)
    else:
        hard = _from_labels(input, target, num_classes, ignore_index, checks)
    checks.resolve()
    return hard


def _logit(t):
    """The logit of a probability threshold, with the ends mapped to -inf and inf."""
    if t <= 0:
        return -math.inf
    if t >= 1:
        return math.inf
    return math.log(t) - math.log1p(-t)


def _from_scores(input, target, num_classes, ignore_index, from_logits, threshold, checks):
    pair = _make_pair(input, target, from_logits, None, ignore_index, False, "input", "target", checks)
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
        true = pair.labels if pair.labels is not None else _onehot_labels(pair.dense, "target", checks)
    return Hard(xp=xp, pred=xp.astype(pred, xp.int64), true=true, valid=pair.valid, num_classes=k,
                dtype=pair.input.dtype, spatial=pair.spatial, scores=pair.input)


def _onehot_labels(dense, name, checks):
    """(N, C, S) one-hot in {0, 1} -> (N, S) labels; each pixel must have exactly one 1."""
    check_one_hot(dense, name, checks)
    return argmax_class(dense)


def _from_labels(input, target, num_classes, ignore_index, checks):
    check_array(input, "input", min_ndim=2, floating=False)
    if num_classes is None:
        raise ValueError("num_classes is required when input holds hard labels (it fixes the output "
                         "shape; inferring it from the data would make the shape data-dependent)")
    check_array(target, "target", min_ndim=1)
    check_same_kind(input, target, "input", "target")
    xp = P.namespace(input)
    n, spatial = input.shape[0], tuple(input.shape[1:])
    pred = xp.astype(xp.reshape(input, (n, -1)), xp.int64)
    check_labels(pred, "input", num_classes, checks=checks)
    if tuple(target.shape) == tuple(input.shape):
        true = _flat_labels(target, n, "target")
        check_labels(true, "target", num_classes, ignore_index, checks)
    elif tuple(target.shape) == (n, num_classes) + spatial:
        _no_ignore_index(ignore_index, "target", input.shape, target.shape)
        dense = xp.reshape(target, (n, num_classes, -1))
        check_hard(dense, "target", "(one-hot)", checks)
        true = _onehot_labels(dense, "target", checks)
    else:
        raise ValueError(f"target must have shape {tuple(input.shape)} (labels) or "
                         f"{(n, num_classes) + spatial} (one-hot) to match input of shape "
                         f"{tuple(input.shape)}; got {tuple(target.shape)}")
    true, valid = _split_ignored(true, ignore_index)
    return Hard(xp=xp, pred=pred, true=true, valid=valid, num_classes=num_classes,
                dtype=P.float_dtype(input), spatial=spatial)
