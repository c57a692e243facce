"""tv_denoise: scikit-image's denoise_tv_chambolle as the oracle, a box-constrained dual QP (L-BFGS-B) for
the anisotropic model, NumPy vs torch, gradients, and the bad-input contract."""
import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from skimage.restoration import denoise_tv_chambolle

import segmath
from segmath import tv_denoise


def _image(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    blocks = (rng.random(shape) < 0.5).astype(float)
    return (blocks + 0.4 * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("shape", [(60,), (33, 41), (11, 12, 13), (5, 6, 7, 4)])
@pytest.mark.parametrize("weight", [0.02, 0.2, 3.0])
@pytest.mark.parametrize("max_num_iter", [1, 2, 7, 200, 2000])
def test_equals_skimage_single_channel(shape, weight, max_num_iter):
    f = _image(shape, seed=len(shape))
    ours = tv_denoise(f, weight, max_num_iter=max_num_iter)
    ref = denoise_tv_chambolle(f, weight=weight, max_num_iter=max_num_iter)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_stopping_rule_matches_skimage():
    """Different eps stop at different iterations; the result equals scikit-image's at each."""
    f = _image((40, 40), seed=3)
    outs = []
    for eps in (1e-1, 1e-3, 1e-6):
        outs.append(tv_denoise(f, 0.3, eps=eps, max_num_iter=5000))
        ref = denoise_tv_chambolle(f, weight=0.3, eps=eps, max_num_iter=5000)
        np.testing.assert_allclose(outs[-1], ref, rtol=0, atol=1e-10)
    assert np.abs(outs[0] - outs[1]).max() > 1e-3 and np.abs(outs[1] - outs[2]).max() > 1e-5


@pytest.mark.parametrize("channel_axis", [0, -1, 1])
def test_channels_equal_skimage_float32(channel_axis):
    f = _image((3, 20, 25), seed=4, dtype=np.float32)
    f = np.moveaxis(f, 0, channel_axis)
    f[..., 0, :] *= 3          # channels of different contrast stop at different iterations
    ours = tv_denoise(f, 0.15, channel_axis=channel_axis)
    ref = denoise_tv_chambolle(f, weight=0.15, channel_axis=channel_axis)
    assert ours.dtype == np.float32 and ours.shape == f.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("check_every", [1, 5, None])
@pytest.mark.parametrize("tv", ["isotropic", "anisotropic"])
def test_numpy_and_torch_agree(check_every, tv):
    f = _image((4, 18, 19), seed=5)
    f[1] *= 4
    a = tv_denoise(f, 0.2, channel_axis=0, tv=tv, check_every=check_every)
    b = tv_denoise(torch.from_numpy(f), 0.2, channel_axis=0, tv=tv, check_every=check_every)
    assert isinstance(b, torch.Tensor)
    np.testing.assert_allclose(a, b.numpy(), rtol=0, atol=1e-12)


def _aniso_oracle(f, weight):
    """u = f - div p with p = argmin ||f - div p||^2 over the box |p_k| <= w (the anisotropic ROF dual),
    solved by L-BFGS-B; div written here with np.diff on zero-padded arrays."""
    shape = f.shape

    def div(p):
        px, py = p[0], p[1]
        dx = np.diff(np.concatenate([np.zeros((1, shape[1])), px[:-1], np.zeros((1, shape[1]))]), axis=0)
        dy = np.diff(np.concatenate([np.zeros((shape[0], 1)), py[:, :-1], np.zeros((shape[0], 1))], 1), axis=1)
        return dx + dy

    def grad(u):
        gx = np.zeros(shape)
        gy = np.zeros(shape)
        gx[:-1] = u[1:] - u[:-1]
        gy[:, :-1] = u[:, 1:] - u[:, :-1]
        return np.stack([gx, gy])

    def obj(z):
        r = f - div(z.reshape((2,) + shape))
        return 0.5 * (r ** 2).sum(), grad(r).ravel()       # d/dp of 1/2||f - div p||^2 = grad(r)

    res = minimize(obj, np.zeros(2 * f.size), jac=True, method="L-BFGS-B",
                   bounds=[(-weight, weight)] * (2 * f.size), options={"maxiter": 20000, "ftol": 1e-16,
                                                                       "gtol": 1e-12})
    return f - div(res.x.reshape((2,) + shape))


def test_anisotropic_converges_to_dual_qp_solution():
    f = _image((6, 7), seed=6)
    ours = tv_denoise(f, 0.4, eps=1e-300, max_num_iter=20000, tv="anisotropic")
    np.testing.assert_allclose(ours, _aniso_oracle(f, 0.4), atol=1e-5)
    # the isotropic model is a different problem on this image
    iso = tv_denoise(f, 0.4, eps=1e-300, max_num_iter=20000)
    assert np.abs(iso - ours).max() > 1e-3


def test_one_dimensional_isotropic_equals_anisotropic():
    f = _image((50,), seed=7)
    np.testing.assert_allclose(tv_denoise(f, 0.3, tv="isotropic"), tv_denoise(f, 0.3, tv="anisotropic"),
                               rtol=0, atol=1e-14)


def test_gradcheck_through_iterations():
    f = torch.tensor(_image((4, 5), seed=8), dtype=torch.float64, requires_grad=True)
    # eps tiny: a fixed number of iterations (the stopping rule is piecewise constant in f)
    assert torch.autograd.gradcheck(lambda x: tv_denoise(x, 0.3, eps=1e-300, max_num_iter=6), (f,),
                                    eps=1e-6, atol=1e-6)


def test_catalogue_entry():
    entry = segmath.get("tv_denoise")
    assert entry.kind == "transform" and entry.fn is tv_denoise


@pytest.mark.parametrize("kwargs, name", [
    ({"weight": 0.0}, "weight"), ({"weight": -1.0}, "weight"), ({"weight": float("nan")}, "weight"),
    ({"eps": 0.0}, "eps"), ({"eps": -1e-3}, "eps"), ({"max_num_iter": 0}, "max_num_iter"),
    ({"tv": "l1"}, "tv"), ({"channel_axis": 5}, "channel_axis"), ({"check_every": 0}, "check_every"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        tv_denoise(_image((5, 6)), **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_image_rejected(bad):
    f = _image((5, 6))
    f[2, 3] = bad
    with pytest.raises(ValueError, match="image"):
        tv_denoise(f)
    with pytest.raises(ValueError, match="image"):
        tv_denoise(torch.from_numpy(f))


def test_nan_propagates_without_value_checks():
    f = _image((5, 6))
    f[2, 3] = np.nan
    with segmath.value_checks(False):
        out = tv_denoise(f, max_num_iter=3)
    assert np.isnan(out).any()


def test_wrong_types_rejected():
    with pytest.raises(TypeError, match="image"):
        tv_denoise([[0.0, 1.0]])
    with pytest.raises(TypeError, match="image"):
        tv_denoise(np.zeros((3, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match="max_num_iter"):
        tv_denoise(_image((5, 6)), max_num_iter=2.5)
