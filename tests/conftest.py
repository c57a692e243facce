"""Fixtures and converters for every test file; independent references live in ``tests/oracles/``."""
import numpy as np
import pytest
import torch

torch.set_num_threads(1)


def to_torch(x, dtype=None, requires_grad=False):
    """NumPy arrays (also inside lists/tuples/dicts) -> torch tensors."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(x.copy())
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        if requires_grad and t.is_floating_point():
            t.requires_grad_(True)
        return t
    if isinstance(x, (list, tuple)):
        return type(x)(to_torch(v, dtype) for v in x)
    if isinstance(x, dict):
        return {k: to_torch(v, dtype) for k, v in x.items()}
    return x


def flat(v):
    """A result (array, tensor, scalar, tuple, dict) as one float64 NumPy vector."""
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().double().numpy().ravel()
    if isinstance(v, dict):
        return np.concatenate([flat(v[k]) for k in sorted(v)]) if v else np.zeros(0)
    if isinstance(v, (list, tuple)):
        return np.concatenate([flat(e) for e in v]) if v else np.zeros(0)
    return np.asarray(v, dtype=float).ravel()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
