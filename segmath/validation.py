"""Input validation shared by every loss and metric.

One place decides what a valid call looks like, so every function rejects bad
input with the same precise message (the scikit-learn idea): the message names
the argument, what was expected and what was given.

Value checks (labels in range, probabilities in [0, 1]) need one device-to-host
sync on CUDA.  They are on by default; ``with segmath.validation.value_checks(False):``
turns them off inside a training loop once the data pipeline is trusted.  Shape,
dtype and option checks are free and always on.
"""
from __future__ import annotations

import contextlib
import math
import numbers

from . import primitives as P

_VALUE_CHECKS = [True]

REDUCTIONS = ("mean", "sum", "none")


@contextlib.contextmanager
def value_checks(enabled: bool):
    """Context manager switching the data-dependent (syncing) checks on or off."""
    _VALUE_CHECKS.append(bool(enabled))
    try:
        yield
    finally:
        _VALUE_CHECKS.pop()


def value_checks_enabled() -> bool:
    return _VALUE_CHECKS[-1]


def _is_array(x) -> bool:
    return P.is_numpy(x) or P.is_torch(x)


def check_array(x, name: str, *, min_ndim: int = 1, floating: bool | None = None):
    """``x`` must be a NumPy array or torch tensor, non-empty, of at least ``min_ndim`` dims."""
    if not _is_array(x):
        raise TypeError(f"{name} must be a NumPy array or a torch tensor, got {type(x).__name__}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(x.shape)}")
    if any(s == 0 for s in x.shape):
        raise ValueError(f"{name} must be non-empty, got shape {tuple(x.shape)}")
    xp = P.namespace(x)
    if floating is True and not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if floating is False and not (xp.isdtype(x.dtype, "integral") or x.dtype == xp.bool):
        raise TypeError(f"{name} must have an integer or bool dtype (class labels), got {x.dtype}")
    return x


def check_same_kind(a, b, name_a: str, name_b: str):
    if P.is_torch(a) != P.is_torch(b):
        raise TypeError(f"{name_a} and {name_b} must both be NumPy arrays or both torch tensors, "
                        f"got {type(a).__name__} and {type(b).__name__}")
    if P.is_torch(a) and a.device != b.device:
        raise ValueError(f"{name_a} and {name_b} must be on the same device, got {a.device} and {b.device}")


def check_choice(value, name: str, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_reduction(reduction):
    return check_choice(reduction, "reduction", REDUCTIONS)


def check_scalar(value, name: str, *, low=None, high=None, low_open=False, high_open=False, integer=False):
    """A real (or integer) Python/NumPy scalar inside [low, high] (open ends when asked)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a real number"
        raise TypeError(f"{name} must be {what}, got {value!r}")
    bad = (low is not None and (value <= low if low_open else value < low)) or \
          (high is not None and (value >= high if high_open else value > high))
    if bad or value != value:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {lo}{low if low is not None else '-inf'}, "
                         f"{high if high is not None else 'inf'}{hi}; got {value!r}")
    return value


class DataChecks:
    """Data-dependent checks read back together: one host sync for all of them.

    Each check adds a 0-d bool array that is True when the data is bad, and a function building
    the error.  :meth:`resolve` ORs the flags on the device and reads the result once (one sync
    on CUDA, whatever the number of checks); only when something is wrong does it look at the
    flags one by one to raise the first error.  With value checks off nothing is computed.
    """

    def __init__(self):
        self.enabled = value_checks_enabled()
        self._pending = []

    def require(self, bad, error):
        if self.enabled:
            self._pending.append((bad, error))

    def resolve(self):
        pending, self._pending = self._pending, []
        if not pending:
            return
        any_bad = pending[0][0]
        for bad, _ in pending[1:]:
            any_bad = any_bad | bad
        if bool(any_bad):  # the one sync
            for bad, error in pending:
                if bool(bad):
                    err = error()   # None: a cheap flag that the exact test behind it cleared
                    if err is not None:
                        raise err


def _resolved(checks, add):
    """Run ``add(checks)`` on the given checks, or on fresh ones resolved at once."""
    own = checks is None
    checks = DataChecks() if own else checks
    add(checks)
    if own:
        checks.resolve()


def check_scores(x, name: str, *, probabilities: bool = False, checks: DataChecks | None = None):
    """Data check: every value of ``x`` finite (and in [0, 1] for probabilities).

    One min/max pass serves both tests: NaN and inf make the min or the max non-finite.  Torch
    logits (finiteness alone) take one sum instead, a cheaper pass on a CPU.
    """
    if not value_checks_enabled():
        return

    def add(ch):
        xp = P.namespace(x)
        if not probabilities and P.is_torch(x):
            # finiteness alone: one sum (cheaper than min/max on a CPU), non-finite iff some value is
            # or the sum overflows -- then the exact min/max below decides, so no false alarm
            ch.require(~xp.isfinite(xp.sum(x)), lambda: _nonfinite(x, name))
            return
        lo, hi = P.minmax(x)  # NaN propagates through min/max
        ch.require(~(xp.isfinite(lo) & xp.isfinite(hi)), lambda: ValueError(
            f"{name} must be finite; found NaN or inf (min={float(lo)}, max={float(hi)}).  With "
            "segmath.value_checks(False) the check is skipped and NaN propagates to the result"))
        if probabilities:
            ch.require(~((lo >= 0) & (hi <= 1)), lambda: ValueError(
                f"{name} must hold probabilities in [0, 1] (pass from_logits=True for logits); "
                f"found values outside, e.g. min={float(lo):.4g}, max={float(hi):.4g}"))
    _resolved(checks, add)


def _nonfinite(x, name):
    """The error for a non-finite ``x`` (None when every value is finite after all)."""
    xp = P.namespace(x)
    lo, hi = P.minmax(x)
    if bool(xp.isfinite(lo) & xp.isfinite(hi)):
        return None
    return ValueError(f"{name} must be finite; found NaN or inf (min={float(lo)}, max={float(hi)}).  With "
                      "segmath.value_checks(False) the check is skipped and NaN propagates to the result")


def check_in_unit_interval(x, name: str, checks: DataChecks | None = None):
    """Data check: every value of ``x`` in [0, 1] (NaN and inf rejected too)."""
    check_scores(x, name, probabilities=True, checks=checks)


def check_labels(labels, name: str, num_classes: int, ignore_index=None, checks: DataChecks | None = None):
    """Data check: integer labels in [0, num_classes), apart from ``ignore_index``."""
    if not value_checks_enabled():
        return

    def add(ch):
        xp = P.namespace(labels)
        counted = labels if ignore_index is None else xp.where(labels == ignore_index,
                                                               xp.zeros_like(labels), labels)
        lo, hi = P.minmax(counted)  # one pass: cheaper than an elementwise mask
        extra = f" (or ignore_index={ignore_index})" if ignore_index is not None else ""
        ch.require((lo < 0) | (hi >= num_classes), lambda: ValueError(
            f"{name} must hold class labels in [0, {num_classes - 1}]{extra}; "
            f"found values in [{int(lo)}, {int(hi)}]"))
    _resolved(checks, add)


def check_hard(values, name: str, what: str, checks: DataChecks | None = None):
    """Data check: a per-class array holds only 0 and 1 (``what`` says why it must)."""
    if not value_checks_enabled():
        return

    def add(ch):
        xp = P.namespace(values)
        ch.require(xp.any((values != 0) & (values != 1)), lambda: ValueError(
            f"{name} must hold hard 0/1 values {what}"))
    _resolved(checks, add)


def check_one_hot(dense, name: str, checks: DataChecks | None = None):
    """Data check: ``(N, C, S)`` 0/1 values with exactly one 1 per pixel."""
    if not value_checks_enabled():
        return

    def add(ch):
        xp = P.namespace(dense)
        ch.require(xp.any(xp.sum(dense, axis=1) != 1), lambda: ValueError(
            f"{name} of per-class shape must be one-hot: exactly one 1 per pixel"))
    _resolved(checks, add)


def check_label_dtype(target, name: str):
    """A label target must have an integer or bool dtype (free: no data read)."""
    xp = P.namespace(target)
    if not (xp.isdtype(target.dtype, "integral") or target.dtype == xp.bool):
        raise TypeError(f"{name} of shape {tuple(target.shape)} holds class labels and must have an "
                        f"integer dtype, got {target.dtype}")


def check_weight(weight, num_classes: int, like, name: str = "weight"):
    """Per-class weights: a sequence or array of ``num_classes`` non-negative finite numbers, not all zero.

    Returned as an array of ``like``'s kind, device and floating dtype.  A Python sequence is
    checked in plain Python (no NumPy), so ``torch.compile`` sees constants, not a data branch.
    """
    if weight is None:
        return None
    xp = P.namespace(like)
    values = P.to_numpy(weight).tolist() if _is_array(weight) else weight
    try:
        if isinstance(values, (str, bytes)):
            raise TypeError
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of {num_classes} numbers, got {weight!r}") from None
    if len(values) != num_classes:
        raise ValueError(f"{name} must have one entry per class ({num_classes}), got {len(values)}")
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"{name} must be finite and non-negative, got {values}")
    if not any(v > 0 for v in values):
        raise ValueError(f"{name} must have at least one positive entry, got {values}")
    return P.asarray_like(values, like, dtype=like.dtype if xp.isdtype(like.dtype, "real floating") else None)


def check_ignore_index(ignore_index):
    if ignore_index is None:
        return None
    return check_scalar(ignore_index, "ignore_index", integer=True)


def spacing_entries(spacing, name: str = "spacing"):
    """A spacing sequence as a tuple of floats; a string or anything not numeric is a TypeError naming it."""
    bad = TypeError(f"{name} must be a number or a sequence of numbers (one per spatial axis), got {spacing!r}")
    if isinstance(spacing, (str, bytes)):
        raise bad
    try:
        entries = tuple(spacing)
        if any(isinstance(e, (str, bytes, bool)) for e in entries):
            raise bad
        return tuple(float(e) for e in entries)
    except (TypeError, ValueError):
        raise bad from None


def check_spacing(spacing, ndim: int, name: str = "spacing"):
    """Voxel spacing: None (unit), a positive number, or one positive number per spatial axis."""
    if spacing is None:
        return (1.0,) * ndim
    if isinstance(spacing, numbers.Real) and not isinstance(spacing, bool):
        spacing = (spacing,) * ndim
    spacing = spacing_entries(spacing, name)
    if len(spacing) != ndim:
        raise ValueError(f"{name} must have {ndim} entries (one per spatial axis), got {len(spacing)}")
    if not all(s > 0 and s < float("inf") for s in spacing):
        raise ValueError(f"{name} must be positive and finite, got {spacing}")
    return spacing
