"""segmath.theory.postprocess: the S30-S36 checks fail when what they check is broken (they are run, seed by
seed, by tests/test_theory.py through theory.VERIFICATIONS), and the helpers agree with oracles."""
import numpy as np
import pytest
from skimage.restoration import denoise_tv_chambolle

import segmath
from segmath import theory
from segmath.postprocess import tv as tv_module
from segmath.theory import postprocess as T


@pytest.mark.slow
def test_thresholding_fails_for_isotropic_tv():
    assert not T.verify_thresholding_theorem(tv="isotropic").passed


def test_mean_field_update_catches_a_perturbed_crf(monkeypatch):
    real = segmath.dense_crf

    def with_self(unary, image, **kw):               # marginals mixed with another class's
        q = real(unary, image, **kw)
        return 0.9 * q + 0.1 * np.roll(q, 1, axis=1)
    monkeypatch.setattr(segmath, "dense_crf", with_self)
    assert not T.verify_mean_field_update().passed


def test_mean_field_convergence_catches_a_wrong_update(monkeypatch):
    real = T._node_update
    monkeypatch.setattr(T, "_node_update", lambda q, psi, k, mu, i: real(q, -psi, k, mu, i))   # sign error
    assert not T.verify_mean_field_convergence().passed


def test_filtered_messages_catch_a_wrong_spatial_filter(monkeypatch):
    from segmath.postprocess import crf
    monkeypatch.setattr(crf, "TRUNCATE", 2.0)        # taps cut at 2 standard deviations: no longer exact
    assert not T.verify_filtered_messages().passed


@pytest.mark.slow
def test_rof_disk_catches_an_unconverged_or_wrong_solver(monkeypatch):
    monkeypatch.setattr(T, "rof_dual_fista", lambda f, w, n, iso=True: (0.9 * f, 0.0))
    assert not T.verify_rof_disk().passed


def test_coarea_catches_isotropic_tv(monkeypatch):
    real = tv_module.total_variation
    monkeypatch.setattr(tv_module, "total_variation", lambda u, tv="isotropic": real(u, "isotropic"))
    assert not T.verify_coarea().passed


def test_chambolle_step_catches_a_wrong_denoiser(monkeypatch):
    monkeypatch.setattr(segmath, "tv_denoise", lambda f, w, **kw: f)
    assert not T.verify_chambolle_step().passed


@pytest.mark.slow
def test_fista_reference_agrees_with_skimage_converged():
    rng = np.random.default_rng(0)
    f = rng.random((20, 22))
    u, gap = T.rof_dual_fista(f, 0.2, 3000)
    ref = denoise_tv_chambolle(f, weight=0.2, eps=1e-12, max_num_iter=20000)
    assert gap / f.size < 1e-6
    np.testing.assert_allclose(u, ref, atol=1e-4)


def test_chambolle_dual_matches_tv_denoise_and_continues():
    rng = np.random.default_rng(1)
    f = rng.random((9, 10, 4))
    u, p = tv_module.chambolle_dual(f, 0.3, 25)
    np.testing.assert_allclose(u, segmath.tv_denoise(f, 0.3, eps=1e-300, max_num_iter=26), atol=1e-14)
    u10, p10 = tv_module.chambolle_dual(f, 0.3, 10)
    u_more, _ = tv_module.chambolle_dual(f, 0.3, 15, p=p10)
    np.testing.assert_allclose(u_more, u, atol=1e-14)
    with pytest.raises(ValueError, match="p"):
        tv_module.chambolle_dual(f, 0.3, 2, p=p10[:2])
    with pytest.raises(ValueError, match="tau"):
        tv_module.chambolle_dual(f, 0.3, 2, tau=0.0)


def test_total_variation_by_hand():
    u = np.array([[0.0, 1.0], [3.0, 1.0]])
    # forward differences: (down: 3, 0), (right: 1, -2); isotropic sqrt(9+1) + 2, anisotropic 3 + 1 + 2
    assert tv_module.total_variation(u, "anisotropic") == pytest.approx(6.0)
    assert tv_module.total_variation(u) == pytest.approx(np.sqrt(10.0) + 2.0)


def test_registered_with_chapters():
    names = {t.name: t for t in theory.VERIFICATIONS}
    for name in ("verify_mean_field_update", "verify_mean_field_convergence", "verify_filtered_messages"):
        assert names[name].chapter == "12_crf"
    for name in ("verify_rof_disk", "verify_coarea", "verify_thresholding_theorem", "verify_chambolle_step"):
        assert names[name].chapter == "13_variational"
