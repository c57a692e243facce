"""offset_uncertainty against SciPy's map_coordinates (interpolation) and a NumPy loop of the formula."""
import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

import segmath


def log_softmax(z):
    z = z - z.max(0, keepdims=True)
    return z - np.log(np.exp(z).sum(0, keepdims=True))


def ohem_ce(z, y, k):
    """Mean of the hardest ceil(k S) pixel cross-entropies of one image; z (C, S), y (S,)."""
    ce = -log_softmax(z)[y, np.arange(y.size)]
    m = int(np.ceil(k * y.size))
    return np.sort(ce)[::-1][:m].mean()


def brute(x, y, kappa=0.5, lam=0.5, tau=0.5, ohem=1.0):
    out = []
    d = y.ndim - 1
    c = x.shape[1] - d - 1
    spatial = y.shape[1:]
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in spatial], indexing="ij")).reshape(d, -1)
    for xi, yi in zip(x, y):
        f = xi.reshape(xi.shape[0], -1)
        pos = grid + tau * np.tanh(f[c:c + d])
        pos = np.stack([np.clip(pos[a], 0, spatial[a] - 1) for a in range(d)])
        logits = f[:c]
        shifted = np.stack([map_coordinates(xi[j], pos, order=1, mode="nearest") for j in range(c)])
        u = 1 / (1 + np.exp(-f[c + d]))
        fused = (1 - u) * logits + u * shifted
        lab = yi.ravel()
        near = np.ravel_multi_index(tuple(np.round(pos).astype(int)), spatial)
        agree = (lab[near] == lab).astype(float)
        l_u = -(agree * np.log(u) + (1 - agree) * np.log(1 - u)).mean()
        out.append(ohem_ce(fused, lab, ohem) + kappa * ohem_ce(shifted, lab, ohem) + lam * ohem_ce(logits, lab, ohem)
                   + l_u)
    return np.array(out)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("opts", [{}, {"tau": 2.5, "ohem": 0.3}, {"kappa": 0.0, "lam": 1.0}])
def test_brute_force(seed, opts):
    rng = np.random.default_rng(seed)
    shape = (5, 6) if seed < 3 else (3, 4, 3)
    y = rng.integers(0, 3, (2,) + shape)
    x = rng.normal(0, 1.5, (2, 3 + len(shape) + 1) + shape)
    got = segmath.offset_uncertainty(x, y, reduction="none", **opts)
    np.testing.assert_allclose(got, brute(x, y, **opts), rtol=1e-10)
    t = segmath.offset_uncertainty(torch.from_numpy(x), torch.from_numpy(y), reduction="none", **opts)
    np.testing.assert_allclose(t.numpy(), got, rtol=1e-12)


def test_gradients_reach_offsets_and_uncertainty():
    rng = np.random.default_rng(1)
    y = torch.from_numpy(rng.integers(0, 3, (1, 4, 5)))
    x = torch.tensor(rng.normal(0, 1.0, (1, 6, 4, 5)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: segmath.offset_uncertainty(v, y, tau=0.7), (x,))
    (g,) = torch.autograd.grad(segmath.offset_uncertainty(x, y, tau=0.7), x)
    assert g[:, 3:5].abs().sum() > 0 and g[:, 5].abs().sum() > 0


def test_traces_whole_with_checks_off():
    rng = np.random.default_rng(2)
    y = torch.from_numpy(rng.integers(0, 3, (2, 5, 6)))
    x = torch.from_numpy(rng.normal(0, 1.0, (2, 6, 5, 6)))
    torch._dynamo.reset()
    with segmath.value_checks(False):
        eager = segmath.offset_uncertainty(x, y, ohem=0.5)
        traced = torch.compile(segmath.offset_uncertainty, backend="eager", fullgraph=True)(x, y, ohem=0.5)
    torch.testing.assert_close(traced, eager, rtol=1e-12, atol=1e-12)
