"""Small seeded inputs for catalogue examples, tests and docstrings (NumPy only)."""
from __future__ import annotations

import numpy as np


def rng(seed):
    return np.random.default_rng(seed)


def logits(seed, n=2, c=3, spatial=(5, 6), scale=2.0):
    """Float64 logits of shape (n, c, *spatial)."""
    return scale * rng(seed).standard_normal((n, c) + tuple(spatial))


def labels(seed, n=2, c=3, spatial=(5, 6), ignore_index=None, ignore_fraction=0.1):
    """Int64 labels in [0, c) of shape (n, *spatial); with ``ignore_index`` some pixels carry it.

    For c == 1 (binary) labels are in {0, 1}.
    """
    r = rng(seed + 1000)
    y = r.integers(0, max(c, 2), size=(n,) + tuple(spatial)).astype(np.int64)
    if ignore_index is not None:
        y[r.random(y.shape) < ignore_fraction] = ignore_index
    return y


def onehot(seed, n=2, c=3, spatial=(5, 6)):
    """Float64 one-hot targets of shape (n, c, *spatial)."""
    y = labels(seed, n, c, spatial)
    return np.moveaxis(np.eye(c)[y], -1, 1)


def soft(seed, n=2, c=3, spatial=(5, 6)):
    """Float64 soft targets (rows on the simplex for c >= 2, values in (0, 1) for c == 1)."""
    r = rng(seed + 2000)
    if c == 1:
        return r.uniform(0.02, 0.98, size=(n, 1) + tuple(spatial))
    z = r.standard_normal((n, c) + tuple(spatial))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def multiclass(seed, **kwargs):
    """(logits, labels) for a C-class softmax problem; the default example of most entries."""
    c = kwargs.pop("c", 3)
    n = kwargs.pop("n", 2)
    spatial = kwargs.pop("spatial", (5, 6))
    return logits(seed, n, c, spatial), labels(seed, n, c, spatial, **kwargs)


def binary(seed, n=2, spatial=(5, 6)):
    """(logits (n, 1, *spatial), labels (n, *spatial) in {0, 1}) for a sigmoid problem."""
    return logits(seed, n, 1, spatial), labels(seed, n, 1, spatial)
