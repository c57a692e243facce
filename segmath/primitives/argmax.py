"""Arg-max over the class axis, the hard decision of every confusion metric.

On CPU, ``torch.argmax(x, dim=1)`` over a strided class axis is about 2.5x slower than
``torch.max(x, dim=1)``, which returns the same indices (both the first maximum):
108 ms vs 43 ms on a (4, 19, 256, 256) float32 batch, one thread.  NumPy's
``argmax`` has no such gap.
"""
from __future__ import annotations

import numpy as np

from .arrays import is_torch

__all__ = ["argmax_class", "max_class"]


def argmax_class(x):
    """Index of the largest entry along axis 1 (the first one on ties), int64."""
    if is_torch(x):
        import torch
        return torch.max(x, dim=1).indices
    return np.argmax(x, axis=1).astype(np.int64, copy=False)


def max_class(x):
    """Largest entry along axis 1 and its index (the first one on ties): ``(values, int64 indices)``."""
    if is_torch(x):
        import torch
        values, index = torch.max(x, dim=1)
        return values, index
    index = argmax_class(x)
    return np.take_along_axis(x, index[:, None], axis=1)[:, 0], index
