"""segmath.theory: every verify_* passes, can fail, and the closed forms agree with independent oracles."""
import doctest

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

import segmath
from segmath import theory
from segmath.theory import closed_forms, convex, decision, overlap

CHAPTERS = {"01_counts", "02_balanced", "03_imbalanced", "04_overlap", "05_focal", "06_lovasz", "07_soft_labels",
            "08_multiclass", "09_boundaries", "10_instances", "11_embeddings", "12_crf", "13_variational"}
REQUIRED = {
    "verify_dice_jaccard_bijection": "S1", "verify_dice_jaccard_bounds": "S2",
    "verify_soft_dice_jaccard_algebra": "S3", "verify_aggregation_changes_ranking": "S4",
    "verify_tversky_bounds": "S5", "verify_no_uniform_ce_weighting": "S6", "verify_log_loss_proper": "S7",
    "verify_brier_proper": "S7", "verify_weighted_ce_threshold": "S8", "verify_f1_threshold": "S9",
    "verify_no_fixed_weight_dice_optimal": "S10", "verify_plugin_vs_expected_f1": "S11",
    "verify_focal_underconfident": "S12", "verify_focal_bound": "S12", "verify_calibration_unbiased_volume": "S13",
    "verify_soft_dice_hard_optimum": "S14", "verify_soft_dice_gradient_constant": "S15",
    "verify_squared_dice_gradient": "S15", "verify_jaccard_submodular": "S16", "verify_lovasz_convex_closure": "S17",
    "verify_lovasz_softmax_vertices": "S18", "verify_jml_metric": "S19", "verify_dml_semimetric": "S20",
    "verify_jml_soft_label_optimum": "S21", "verify_ece_binning_bias": "",
    "verify_boundary_loss_identity": "S22", "verify_dt_hausdorff_convex_nested": "S24",
    "verify_dt_hausdorff_counterexample": "S24",
    "verify_ece_bias_bound": "", "verify_multiclass_dice_affine": "", "verify_label_shift_balanced_weights": "",
    "verify_balanced_gaussian_dice": "", "verify_soft_dice_hard_labels_topk": "", "verify_soft_dice_volume_bias": "",
    "verify_focal_inverse": "S12", "verify_temperature_scaling": "", "verify_focal_tversky_transform": "",
    "verify_loose_statements": "",
    "verify_pq_sq_rq": "S25", "verify_matching_uniqueness": "S26", "verify_discriminative_geometry": "S27",
    "verify_spatial_embedding_ball": "S28", "verify_fathi_similarity": "S29",
    "verify_mean_field_update": "S30", "verify_mean_field_convergence": "S31", "verify_filtered_messages": "S32",
    "verify_rof_disk": "S33",
    "verify_coarea": "S34", "verify_thresholding_theorem": "S35", "verify_chambolle_step": "S36",
}
NAMES = [t.name for t in theory.VERIFICATIONS]


def test_registry_lists_every_required_verification():
    assert sorted(NAMES) == sorted(REQUIRED) and len(set(NAMES)) == len(NAMES)
    for t in theory.VERIFICATIONS:
        assert t.statement == REQUIRED[t.name]
        assert t.chapter in CHAPTERS and t.title
        assert getattr(theory, t.name) is t.fn and t.fn.__doc__


def test_catalogue_theorem_names_exist():
    """Catalogue entries refer to verify functions by name; each must exist."""
    for entry in segmath.catalogue():
        for name in entry.theorems:
            if name.startswith("verify_"):
                assert hasattr(theory, name), f"{entry.id} refers to missing theory.{name}"


# The heaviest checks (seconds each) run in the full suite only (make unit); make unit-fast skips them.
SLOW_THEOREMS = {"verify_rof_disk", "verify_soft_dice_hard_labels_topk", "verify_thresholding_theorem",
                 "verify_temperature_scaling"}


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_THEOREMS else n for n in NAMES])
def test_verification_passes(name, seed):
    result = getattr(theory, name)(seed=seed)
    assert isinstance(result, theory.Verification)
    assert result.cases > 0 and result.details
    result.assert_passed()


# ---- the verifications can fail -------------------------------------------------------------------

@pytest.mark.parametrize("module, attr, wrong, verify", [
    (overlap, "dice_from_jaccard", lambda j: np.asarray(j, float), "verify_dice_jaccard_bijection"),
    (decision, "weighted_ce_minimiser", lambda eta, w0, w1: np.asarray(eta, float), "verify_weighted_ce_threshold"),
    (decision, "weighted_ce_threshold", lambda w0, w1: w1 / (w0 + w1), "verify_weighted_ce_threshold"),
    (decision, "focal_minimiser", lambda eta, gamma: np.asarray(eta, float), "verify_focal_underconfident"),
    (decision, "f1_optimal_threshold", lambda eta: 0.5, "verify_f1_threshold"),
    (decision, "jaccard_optimal_threshold", lambda eta: 0.2, "verify_f1_threshold"),
])
@pytest.mark.slow
def test_wrong_closed_form_is_caught(monkeypatch, module, attr, wrong, verify):
    monkeypatch.setattr(module, attr, wrong)
    assert not getattr(theory, verify)().passed


def test_wrong_catalogue_function_is_caught(monkeypatch):
    def fake_dice(x, y, **kw):                       # a Jaccard loss posing as Dice
        i = (x * y).sum()
        return 1 - i / (x.sum() + y.sum() - i)
    monkeypatch.setattr(overlap, "catalogue_fn", lambda id: fake_dice if id == "dice" else None)
    assert not theory.verify_soft_dice_gradient_constant().passed
    monkeypatch.setattr(overlap, "catalogue_fn", lambda id: (lambda x, y, **kw: 0.7) if id == "tversky" else None)
    assert not theory.verify_tversky_bounds().passed


def test_wrong_lovasz_softmax_is_caught(monkeypatch):
    import torch
    monkeypatch.setattr(convex, "catalogue_fn", lambda id: (lambda x, y, **kw: torch.as_tensor(x).sum() * 0.0))
    assert not theory.verify_lovasz_softmax_vertices().passed


def test_renamed_catalogue_id_fails_the_theorem_check(monkeypatch):
    known = segmath.get

    def renamed(id):                                  # "dice" gone from the catalogue, as after a rename
        if id == "dice":
            raise KeyError(f"no catalogue entry {id!r}")
        return known(id)
    monkeypatch.setattr(segmath, "get", renamed)
    with pytest.raises(KeyError, match="dice"):
        theory.verify_soft_dice_gradient_constant()


# ---- closed forms against independent oracles --------------------------------------------------------

def test_focal_minimiser_against_scipy():
    rng = np.random.default_rng(0)
    eta = rng.uniform(0.01, 0.99, 40)
    for gamma in (0.0, 0.7, 2.0, 4.0):
        ref = [minimize_scalar(lambda q: -e * (1 - q) ** gamma * np.log(q) - (1 - e) * q ** gamma * np.log(1 - q),
                               bounds=(1e-9, 1 - 1e-9), method="bounded", options={"xatol": 1e-12}).x for e in eta]
        np.testing.assert_allclose(theory.focal_minimiser(eta, gamma), ref, atol=1e-7)
    assert theory.focal_minimiser(np.array([0.0, 1.0]), 2.0).tolist() == [0.0, 1.0]


def test_weighted_ce_minimiser_and_threshold_by_brute_force():
    q = np.linspace(1e-6, 1 - 1e-6, 400001)
    for w0, w1 in ((1.0, 1.0), (1.0, 9.0), (5.0, 0.5)):
        for eta in (0.05, 0.3, 0.5, 0.8):
            risk = -w1 * eta * np.log(q) - w0 * (1 - eta) * np.log(1 - q)
            assert theory.weighted_ce_minimiser(eta, w0, w1) == pytest.approx(q[np.argmin(risk)], abs=5e-6)
        # the eta at which the numerical minimiser crosses 1/2
        crossing = brentq(lambda e: minimize_scalar(lambda v: -w1 * e * np.log(v) - w0 * (1 - e) * np.log(1 - v),
                                                    bounds=(1e-9, 1 - 1e-9), method="bounded").x - 0.5, 1e-6, 1 - 1e-6)
        assert theory.weighted_ce_threshold(w0, w1) == pytest.approx(crossing, abs=1e-5)
        assert theory.weighted_ce_posterior(theory.weighted_ce_minimiser(0.37, w0, w1), w0, w1) == pytest.approx(0.37)


def _best_subset(eta, score):
    s = ((np.arange(2 ** eta.size)[:, None] >> np.arange(eta.size)) & 1).astype(float)
    tp, k = s @ eta, s.sum(1)
    values = score(tp, k, eta.sum())
    return s[np.argmax(values)].astype(bool), values.max()


def test_optimal_thresholds_against_all_subsets():
    rng = np.random.default_rng(1)
    for _ in range(10):
        eta = rng.beta(0.5, 1.2, 11)
        best, f_star = _best_subset(eta, lambda tp, k, tot: 2 * tp / (k + tot))
        assert np.array_equal(best, eta > theory.f1_optimal_threshold(eta))
        assert theory.optimal_f1(eta) == pytest.approx(f_star)
        best, j_star = _best_subset(eta, lambda tp, k, tot: tp / (k + tot - tp))
        assert np.array_equal(best, eta > theory.jaccard_optimal_threshold(eta))
        assert theory.optimal_jaccard(eta) == pytest.approx(j_star)


def test_dice_jaccard_conversions_against_counted_masks():
    rng = np.random.default_rng(2)
    x, y = rng.random((200, 30)) < 0.5, rng.random((200, 30)) < 0.5
    inter, union = (x & y).sum(1), (x | y).sum(1)
    d, j = 2 * inter / (x.sum(1) + y.sum(1)), inter / union
    np.testing.assert_allclose(theory.dice_from_jaccard(j), d, atol=1e-14)
    np.testing.assert_allclose(theory.jaccard_from_dice(d), j, atol=1e-14)


def test_lovasz_extension_against_level_set_integral_and_lp():
    rng = np.random.default_rng(3)
    g = np.array([1, 1, 0, 0, 1, 0], bool)
    table = theory.jaccard_set_loss(g, 6)
    for m in rng.random((10, 6)):
        value, grad = theory.lovasz_extension(table, m)
        assert value == pytest.approx(convex._level_set_integral(m, g), abs=1e-12)
        assert value == pytest.approx(theory.convex_closure(table, m), abs=1e-8)
        assert value == pytest.approx(float(np.dot(grad, m)))       # positively homogeneous


# ---- the result object ---------------------------------------------------------------------------------

def test_verification_reports():
    ok = theory.verify_dice_jaccard_bijection()
    assert ok.passed and "PASSED" in repr(ok) and "S1" in repr(ok)
    assert "passed" in ok._repr_html_() and ok.assert_passed() is ok
    bad = theory.Verification("a false claim", 3, 0.5, 1e-9, False, {"check": False}, "S0")
    with pytest.raises(AssertionError, match="a false claim"):
        bad.assert_passed()
    assert "FAILED" in repr(bad) and "FAILED" in bad._repr_html_()


def test_docstring_examples():
    import segmath.symbolic
    for module in (theory, closed_forms, segmath.symbolic):
        failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failures == 0, module.__name__


def test_wrong_focal_inverse_and_focal_tversky_are_caught(monkeypatch):
    from segmath.theory import focal as focal_checks
    monkeypatch.setattr(focal_checks, "focal_posterior", lambda q, gamma: np.asarray(q, float))
    assert not theory.verify_focal_inverse().passed
    monkeypatch.undo()
    tversky = segmath.get("tversky").fn
    monkeypatch.setattr(focal_checks, "catalogue_fn",
                        lambda id: (lambda x, y, exponent=0.75, **kw: tversky(x, y, **kw) ** 0.5)
                        if id == "focal_tversky" else tversky)
    assert not theory.verify_focal_tversky_transform().passed
