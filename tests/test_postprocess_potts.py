"""tv_segment: exact for two classes with anisotropic TV (all 2^16 labellings of a 4x4 image), the simplex
projection against a sorted-free oracle (scipy), smoothing properties, NumPy vs torch, bad input."""
import numpy as np
import pytest
import torch
from scipy.optimize import minimize

import segmath
from segmath import tv_segment
from segmath.postprocess import potts


def _probs(seed, shape, c=2, scale=1.5):
    z = np.random.default_rng(seed).normal(0, scale, (1, c) + shape)
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _all_labellings_energy(cost, w):
    """2w Per(E) + sum_E (g_0 - g_1) for every E (class 0 on E) of a 4x4 grid; Per counts cut edges."""
    sets = ((np.arange(2 ** 16)[:, None] >> np.arange(16)) & 1).astype(bool).reshape(-1, 4, 4)
    per = (sets[:, 1:] != sets[:, :-1]).sum((1, 2)) + (sets[:, :, 1:] != sets[:, :, :-1]).sum((1, 2))
    return 2 * w * per + (sets * (cost[0] - cost[1])).sum((1, 2))


@pytest.mark.parametrize("seed", range(4))
def test_two_classes_anisotropic_is_exact(seed):
    p = _probs(seed, (4, 4))
    w = float(np.random.default_rng(seed + 10).uniform(0.2, 1.0))
    u = tv_segment(p, w, n_iter=1500, tv="anisotropic")
    energy = _all_labellings_energy(-np.log(p[0]), w)
    for t in (0.3, 0.5, 0.7):                        # every level set of the minimiser is a minimiser
        level = (u[0, 0] > t).ravel()
        idx = int((level.astype(np.int64) << np.arange(16)).sum())
        assert energy[idx] - energy.min() <= 1e-9


def test_simplex_projection_against_a_qp():
    rng = np.random.default_rng(3)
    v = rng.normal(0, 1.0, (2, 4, 3, 3))
    ours = potts._project_simplex(np, v)
    for n in range(2):
        for i in range(3):
            for j in range(3):
                x = v[n, :, i, j]
                res = minimize(lambda z: ((z - x) ** 2).sum(), np.full(4, 0.25), method="SLSQP",
                               bounds=[(0, None)] * 4, constraints=[{"type": "eq", "fun": lambda z: z.sum() - 1}],
                               options={"ftol": 1e-14, "maxiter": 500})
                np.testing.assert_allclose(ours[n, :, i, j], res.x, atol=1e-6)


def test_small_weight_keeps_the_argmax_and_large_weight_smooths():
    p = _probs(4, (16, 18), c=4, scale=1.0)
    u_small = tv_segment(p, 1e-3, n_iter=200)
    assert (u_small.argmax(1) == p.argmax(1)).mean() > 0.99
    u_large = tv_segment(p, 0.8, n_iter=300)
    edges = lambda lab: (lab[:, 1:] != lab[:, :-1]).sum() + (lab[:, :, 1:] != lab[:, :, :-1]).sum()  # noqa: E731
    assert edges(u_large.argmax(1)) < 0.5 * edges(p.argmax(1))
    assert np.allclose(u_large.sum(1), 1.0) and u_large.min() >= 0


def test_logits_numpy_torch_and_3d():
    rng = np.random.default_rng(5)
    z = rng.normal(0, 1.0, (2, 3, 5, 6, 4))
    a = tv_segment(z, 0.3, n_iter=40, from_logits=True)
    b = tv_segment(torch.from_numpy(z), 0.3, n_iter=40, from_logits=True)
    assert isinstance(b, torch.Tensor)
    np.testing.assert_allclose(a, b.numpy(), atol=1e-12)
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(tv_segment(e / e.sum(1, keepdims=True), 0.3, n_iter=40), a, atol=1e-9)


@pytest.mark.parametrize("kwargs, name", [({"weight": 0.0}, "weight"), ({"n_iter": 0}, "n_iter"),
                                          ({"tv": "l2"}, "tv"), ({"eps": 0.0}, "eps")])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        tv_segment(_probs(0, (3, 3)), **kwargs)


def test_bad_input():
    p = _probs(0, (3, 3))
    with pytest.raises(ValueError, match="input"):
        tv_segment(p * 2.0)                           # not probabilities
    bad = p.copy()
    bad[0, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="input"):
        tv_segment(bad)
    with pytest.raises(ValueError, match="input"):
        tv_segment(p[0, 0])
    with pytest.raises(TypeError, match="input"):
        tv_segment(p.tolist())
    assert segmath.tv_segment is tv_segment
