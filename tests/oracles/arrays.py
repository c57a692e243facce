"""NumPy references for the activations and encodings every loss test needs.

Written from the definitions (max-shifted exponentials, an identity-matrix lookup, a SciPy erosion), never from
``segmath.primitives``, so a test that compares against them cannot agree with a bug by construction.
"""
import numpy as np
import torch
from scipy import ndimage


def softmax(x, axis=1):
    """Softmax along ``axis`` (the class axis of ``(N, C, *spatial)``), shifted by the max for stability."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x):
    """Logistic function, written in the form that does not overflow for large ``|x|``."""
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def one_hot(labels, c):
    """Integer labels ``(N, *spatial)`` -> float64 one-hot ``(N, C, *spatial)``, of the labels' kind.

    NumPy labels give a NumPy array, torch labels a float64 tensor on the CPU.
    """
    if isinstance(labels, torch.Tensor):
        return torch.from_numpy(one_hot(labels.cpu().numpy(), c))
    return np.moveaxis(np.eye(c)[labels], -1, 1)


def contour(mask):
    """Inner contour of a boolean mask: its elements with a face neighbour outside (the border is outside)."""
    cross = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, cross, border_value=0)
