"""Guarded arithmetic shared by every loss and metric.

The one rule: a guard handles the *exact* edge case it names (a zero denominator, a
negative rounding residue) and nothing else, so a NaN or an inf that reaches it is passed
on, never turned into a finite number.  ``where(den > 0, ...)`` would send a NaN
denominator down the "zero" branch; these helpers test ``den == 0`` and ``x < 0`` instead.
"""
from __future__ import annotations

__all__ = ["safe_divide", "clip_negative"]


def safe_divide(xp, num, den, zero=0.0):
    """``num / den`` where ``den != 0``, and ``zero`` where ``den == 0`` exactly.

    NaN or inf in ``num`` or ``den`` propagates, also where ``den == 0``: a non-finite numerator
    over an empty count is NaN, never ``zero``; inf in ``den`` gives 0 or NaN as IEEE division does.  The division
    never sees a zero denominator, so autograd has no inf * 0 to form in the unused branch, and
    no floating-point warning is raised.

    Example:
        >>> import numpy as np
        >>> safe_divide(np, np.array([1.0, 0.0, 1.0, np.nan]), np.array([2.0, 0.0, np.nan, 0.0]), zero=-1.0)
        array([ 0.5, -1. ,  nan,  nan])
    """
    is_zero = den == 0
    q = num / xp.where(is_zero, xp.ones_like(den), den)
    if zero is None:
        return q
    fill = xp.where(xp.isfinite(num), xp.full_like(q, zero), xp.full_like(q, float("nan")))
    return xp.where(is_zero, fill, q)


def clip_negative(xp, x):
    """``max(x, 0)`` that keeps NaN (``where(x > 0, x, 0)`` would turn it into 0)."""
    return xp.where(x < 0, xp.zeros_like(x), x)
