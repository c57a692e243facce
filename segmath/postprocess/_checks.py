"""Argument checks shared by the post-processing functions."""
from __future__ import annotations

from .. import primitives as P
from ..validation import check_scalar, value_checks_enabled


def check_positive(value, name):
    """A finite real number > 0 (a clear ValueError naming ``name`` otherwise)."""
    check_scalar(value, name, low=0, low_open=True)
    if value == float("inf"):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_non_negative(value, name):
    check_scalar(value, name, low=0)
    if value == float("inf"):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_finite(x, name):
    """Data check (skipped under ``value_checks(False)``): no NaN or infinity in ``x``."""
    if not value_checks_enabled():
        return
    xp = P.namespace(x)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} must be finite; it holds NaN or infinite values")
