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


def check_in_unit_interval(x, name: str):
    """Data check: every value of ``x`` in [0, 1] (NaN rejected too)."""
    if not value_checks_enabled():
        return
    lo, hi = P.minmax(x)  # NaN propagates through min/max and fails the test below
    if not bool((lo >= 0) & (hi <= 1)):
        raise ValueError(f"{name} must hold probabilities in [0, 1] (pass from_logits=True for logits); "
                         f"found values outside, e.g. min={float(lo):.4g}, max={float(hi):.4g}")


def check_labels(labels, name: str, num_classes: int, ignore_index=None):
    """Data check: integer labels in [0, num_classes), apart from ``ignore_index``."""
    if not value_checks_enabled():
        return
    xp = P.namespace(labels)
    counted = labels if ignore_index is None else xp.where(labels == ignore_index, xp.zeros_like(labels), labels)
    lo, hi = P.minmax(counted)  # one pass and one sync: cheaper than an elementwise mask
    if bool((lo < 0) | (hi >= num_classes)):
        extra = f" (or ignore_index={ignore_index})" if ignore_index is not None else ""
        raise ValueError(f"{name} must hold class labels in [0, {num_classes - 1}]{extra}; "
                         f"found values in [{int(lo)}, {int(hi)}]")


def check_weight(weight, num_classes: int, like, name: str = "weight"):
    """Per-class weights: a sequence or array of ``num_classes`` non-negative finite numbers, not all zero.

    Returned as an array of ``like``'s kind, device and floating dtype.
    """
    if weight is None:
        return None
    xp = P.namespace(like)
    w = P.to_numpy(weight) if _is_array(weight) else weight
    try:
        import numpy as np
        w = np.asarray(w, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of {num_classes} numbers, got {weight!r}") from None
    if w.ndim != 1 or w.shape[0] != num_classes:
        raise ValueError(f"{name} must have one entry per class ({num_classes}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {w.tolist()}")
    if not np.any(w > 0):
        raise ValueError(f"{name} must have at least one positive entry, got {w.tolist()}")
    return P.asarray_like(w, like, dtype=like.dtype if xp.isdtype(like.dtype, "real floating") else None)


def check_ignore_index(ignore_index):
    if ignore_index is None:
        return None
    return check_scalar(ignore_index, "ignore_index", integer=True)


def check_spacing(spacing, ndim: int, name: str = "spacing"):
    """Voxel spacing: None (unit), a positive number, or one positive number per spatial axis."""
    if spacing is None:
        return (1.0,) * ndim
    if isinstance(spacing, numbers.Real):
        spacing = (spacing,) * ndim
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != ndim:
        raise ValueError(f"{name} must have {ndim} entries (one per spatial axis), got {len(spacing)}")
    if not all(s > 0 and s < float("inf") for s in spacing):
        raise ValueError(f"{name} must be positive and finite, got {spacing}")
    return spacing
