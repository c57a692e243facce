"""Array primitives with a NumPy and a torch path: namespaces and devices, activations, class gathers
and scatter sums, one-hot, sorting, fused cross-entropy, min/max and padding.

Re-exported by :mod:`segmath.primitives`, where the reason for this module is explained.
"""
from __future__ import annotations

import array_api_compat
import numpy as np

__all__ = [
    "namespace", "device", "is_torch", "is_numpy", "asarray_like", "to_numpy",
    "softmax", "log_softmax", "sigmoid", "log_sigmoid", "softplus",
    "gather_class", "class_sums", "bincount", "one_hot", "sort_desc",
    "take_along", "float_dtype", "detach", "ce_from_logits", "bce_from_logits", "minmax", "pad_spatial",
]


def namespace(*arrays):
    """Array-API namespace of the arrays (NumPy arrays, torch tensors)."""
    return array_api_compat.array_namespace(*[a for a in arrays if a is not None])


def is_torch(x) -> bool:
    return array_api_compat.is_torch_array(x)


def is_numpy(x) -> bool:
    return array_api_compat.is_numpy_array(x)


def _torch():
    import torch
    return torch


def _special():
    import scipy.special
    return scipy.special


def asarray_like(value, like, dtype=None):
    """``value`` as an array of the same kind and device as ``like``."""
    xp = namespace(like)
    return xp.asarray(value, dtype=dtype, device=array_api_compat.device(like))


def device(x):
    """The device an array lives on ("cpu" for NumPy)."""
    return array_api_compat.device(x)


def to_numpy(x):
    """Host NumPy copy (only for tests, plotting and SciPy-backed paths)."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def detach(x):
    """Stop gradients (a no-op on NumPy)."""
    return x.detach() if is_torch(x) else x


def float_dtype(x):
    """The floating dtype computations on ``x`` should run in (float32 at least)."""
    xp = namespace(x)
    if xp.isdtype(x.dtype, "real floating"):
        if is_torch(x) and x.dtype in (_torch().float16, _torch().bfloat16):
            return _torch().float32  # reductions over millions of pixels overflow in half
        return x.dtype
    return xp.float64 if is_numpy(x) else _torch().get_default_dtype()


# -- activations -------------------------------------------------------------

def softmax(x, axis=1):
    if is_torch(x):
        return _torch().softmax(x, dim=axis)
    return _special().softmax(x, axis=axis)


def log_softmax(x, axis=1):
    if is_torch(x):
        return _torch().log_softmax(x, dim=axis)
    return _special().log_softmax(x, axis=axis)


def sigmoid(x):
    if is_torch(x):
        return _torch().sigmoid(x)
    return _special().expit(x)


def log_sigmoid(x):
    """log(sigmoid(x)), finite for |x| up to the dtype's range."""
    if is_torch(x):
        return _torch().nn.functional.logsigmoid(x)
    return -np.logaddexp(0.0, -x)


def softplus(x):
    """log(1 + exp(x)) = -log_sigmoid(-x), stable."""
    if is_torch(x):
        return _torch().nn.functional.softplus(x, beta=1.0, threshold=20.0)
    return np.logaddexp(0.0, x)


# -- class-axis indexing ----------------------------------------------------

def gather_class(x, labels):
    """``x[n, labels[n, s], s]`` for x of shape (N, C, S) and int labels (N, S).

    The gather replaces a float one-hot product: O(N*S) memory instead of O(N*C*S).
    """
    if is_torch(x):
        return _torch().gather(x, 1, labels[:, None, :]).squeeze(1)
    return np.take_along_axis(x, labels[:, None, :], axis=1)[:, 0, :]


def class_sums(values, labels, num_classes):
    """Per-image, per-class sums: out[n, ..., c] = sum_s values[n, ..., s] * [labels[n, s] == c].

    ``values`` (N, S) or (N, F, S) float, ``labels`` (N, S) int in [0, num_classes); the result is
    (N, num_classes) or (N, F, num_classes).  Differentiable in ``values`` on torch (scatter-add),
    bincount on NumPy.
    """
    lead = tuple(values.shape[:-1])
    index = labels if values.ndim == 2 else labels[:, None, :]
    if is_torch(values):
        torch = _torch()
        out = torch.zeros(lead + (num_classes,), dtype=values.dtype, device=values.device)
        return out.scatter_add(values.ndim - 1, index.expand(values.shape), values)
    rows = np.arange(int(np.prod(lead))).reshape(lead)[..., None] * num_classes
    flat = np.bincount((np.broadcast_to(index, values.shape) + rows).ravel(), weights=values.ravel(),
                       minlength=int(np.prod(lead)) * num_classes)
    return flat.reshape(lead + (num_classes,)).astype(values.dtype, copy=False)


def bincount(x, minlength):
    """Counts of non-negative ints in a 1-D integer array (int64 result)."""
    if is_torch(x):
        return _torch().bincount(x, minlength=minlength)
    return np.bincount(x, minlength=minlength).astype(np.int64)


def one_hot(labels, num_classes, dtype):
    """(N, *S) int labels -> (N, C, *S) one-hot of ``dtype``.

    Only for the few formulas that need a dense per-class target (Lovász, soft L1
    terms); everything else uses :func:`gather_class` / :func:`class_sums`.
    """
    xp = namespace(labels)
    classes = xp.arange(num_classes, device=array_api_compat.device(labels))
    shape = (1, num_classes) + (1,) * (labels.ndim - 1)
    return xp.astype(labels[:, None, ...] == xp.reshape(classes, shape), dtype)


def take_along(x, indices, axis=-1):
    if is_torch(x):
        return _torch().take_along_dim(x, indices, dim=axis)
    return np.take_along_axis(x, indices, axis=axis)


def sort_desc(x, axis=-1):
    """Values sorted in decreasing order along ``axis`` and the permutation used."""
    if is_torch(x):
        values, index = _torch().sort(x, dim=axis, descending=True)
        return values, index
    index = np.argsort(-x, axis=axis, kind="stable")
    return np.take_along_axis(x, index, axis=axis), index


# -- fused per-pixel losses ---------------------------------------------------
# torch fuses these into one kernel each (forward and backward); written out through the
# array API they cost 2-3x more time and several (N, C, S) temporaries.

def ce_from_logits(logits, labels):
    """Per-pixel cross-entropy -log softmax(logits)[label]: logits (N, C, S), labels (N, S) -> (N, S)."""
    if is_torch(logits):
        return _torch().nn.functional.cross_entropy(logits, labels, reduction="none")
    return -gather_class(_special().log_softmax(logits, axis=1), labels)


def bce_from_logits(x, y, pos_weight=None, reduction="none"):
    """Element-wise -[rho y log s(x) + (1 - y) log(1 - s(x))], s the sigmoid; ``pos_weight`` rho
    broadcasts against x (None: 1).  ``reduction="mean"`` fuses the mean over all elements (no
    per-element map is stored for the backward pass)."""
    if is_torch(x):
        return _torch().nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight,
                                                                      reduction=reduction)
    rho_y = y if pos_weight is None else pos_weight * y
    # -log s(x) = softplus(-x) and -log(1 - s(x)) = x + softplus(-x)
    out = (1.0 - y) * x + (rho_y + 1.0 - y) * np.logaddexp(0.0, -x)
    return np.mean(out) if reduction == "mean" else out


def minmax(x):
    """(min, max) of all elements, in one pass on torch (``torch.aminmax``); NaN propagates."""
    if is_torch(x):
        return _torch().aminmax(x)
    return np.min(x), np.max(x)


def pad_spatial(x, ndim, width=1):
    """Zero-pad the last ``ndim`` axes of ``x`` by ``width`` on both sides (bool pads as uint8 on torch)."""
    if is_torch(x):
        torch = _torch()
        if x.dtype == torch.bool:
            x = x.to(torch.uint8)
        return torch.nn.functional.pad(x, [width] * (2 * ndim))
    return np.pad(x, [(0, 0)] * (x.ndim - ndim) + [(width, width)] * ndim)
