"""Small helpers shared by the verify functions (independent NumPy formulas, catalogue access)."""
from __future__ import annotations

import numpy as np


def catalogue_fn(id):
    """The catalogue function ``id`` (loaded lazily).

    An unknown id raises ``KeyError`` naming the known ids: a renamed entry must fail the theorem check
    that uses it, not turn it into a check of the closed form alone.
    """
    import segmath
    return segmath.get(id).fn


def hard_counts(x, y):
    """TP, FP, FN of boolean masks along the last axis (set operations, no formulas shared)."""
    x, y = np.asarray(x, bool), np.asarray(y, bool)
    return (x & y).sum(-1), (x & ~y).sum(-1), (~x & y).sum(-1)


def finite_difference(f, x, h=1e-6):
    """Central differences of a scalar function f at every coordinate of the 1-D array x."""
    x = np.asarray(x, dtype=float)
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def torch_grad(fn, x, *args, **kwargs):
    """Value and gradient (NumPy) of a catalogue function at float64 x through torch autograd."""
    import torch
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    targs = [torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    value = fn(t, *targs, **kwargs)
    (g,) = torch.autograd.grad(value, t)
    return float(value.detach()), g.detach().numpy()
