"""Shared plumbing of the grid primitives (:mod:`.edt`, :mod:`.morphology`, :mod:`.components`).

Which solver a CPU tensor takes (:func:`cpu_backend`), lazy SciPy/torch imports, neighbourhoods
and SciPy structuring elements, and the split of a shape into batch and spatial axes.
"""
from __future__ import annotations

import contextlib
import itertools

import numpy as np

from .arrays import is_torch

__all__ = ["cpu_backend", "neighbour_offsets"]

# Which implementation CPU tensors use: "scipy" (default; a CPU tensor shares memory with
# NumPy, so this is no host round trip) or "torch" (the pure-tensor solvers, as on GPUs).
_CPU_BACKENDS = ("scipy", "torch")
_cpu = {"backend": "scipy"}


@contextlib.contextmanager
def cpu_backend(name: str):
    """Within the block, CPU tensors use ``"scipy"`` (default) or the pure-``"torch"`` solvers.

    Both are exact; the switch exists to measure and test the torch path on a CPU.

    Example:
        >>> import torch
        >>> from segmath.primitives import edt as E
        >>> with E.cpu_backend("torch"):
        ...     E.edt(torch.tensor([[0, 1, 1]]), (1.0, 1.0), 2)
        tensor([[0., 1., 2.]])
    """
    if name not in _CPU_BACKENDS:
        raise ValueError(f"name must be one of {_CPU_BACKENDS}, got {name!r}")
    old, _cpu["backend"] = _cpu["backend"], name
    try:
        yield
    finally:
        _cpu["backend"] = old


def _resolve(mask, method):
    """``"auto"`` -> "scipy" (NumPy, CPU tensors), "window" (CPU tensors under ``cpu_backend("torch")``), "bisect"
    (other devices, and every tensor under ``torch.compile``)."""
    if method != "auto":
        return method
    if not is_torch(mask):
        return "scipy"
    if mask.device.type != "cpu" or _torch().compiler.is_compiling():
        return "bisect"   # traced: SciPy and the CPU solvers' per-round reads would break the graph
    return "scipy" if _cpu["backend"] == "scipy" else "window"


def _torch():
    import torch
    return torch


def _ndimage():
    import scipy.ndimage
    return scipy.ndimage


def neighbour_offsets(ndim: int, connectivity: int):
    """Offsets in {-1, 0, 1}^ndim with 1..connectivity non-zero entries (SciPy's structuring elements)."""
    return [o for o in itertools.product((-1, 0, 1), repeat=ndim)
            if 0 < sum(v != 0 for v in o) <= connectivity]


def _structure(ndim: int, connectivity: int, rank: int):
    """SciPy structuring element for the last ``ndim`` axes of a rank-``rank`` array (size 1 elsewhere)."""
    s = _ndimage().generate_binary_structure(ndim, connectivity)
    return s.reshape((1,) * (rank - ndim) + s.shape)


def _result_dtype(mask):
    if is_torch(mask):
        return mask.dtype if mask.is_floating_point() else _torch().get_default_dtype()
    return mask.dtype if np.issubdtype(mask.dtype, np.floating) else np.float64


def _split(shape, ndim):
    if ndim > len(shape):
        raise ValueError(f"mask has {len(shape)} dimensions, fewer than the {ndim} spatial axes asked for")
    return tuple(shape[:len(shape) - ndim]), tuple(shape[len(shape) - ndim:])


def _host_torch(mask):
    """A CPU tensor that takes the SciPy path (see :func:`cpu_backend`)."""
    return is_torch(mask) and _resolve(mask, "auto") == "scipy"
