"""Calibration metrics: Brier score against scikit-learn, equal-mass ECE against a brute-force loop,
exact cases (torchmetrics comparisons are in test_metrics_torchmetrics.py)."""
import numpy as np
import pytest
import torch
from scipy.special import expit, softmax
from sklearn.metrics import brier_score_loss

import segmath
from conftest import to_torch
from oracles import make_case

C = 4


@pytest.mark.parametrize("spatial", [(6, 7), (3, 4, 5)])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_multiclass_brier_matches_sklearn(spatial, backend):
    x, y = make_case(30, n=3, spatial=spatial, ignore_index=255)
    args = (x, y) if backend == "numpy" else to_torch((x, y))
    p = np.moveaxis(softmax(x, axis=1), 1, -1)            # (N, *spatial, C)
    keep = y != 255
    ref = brier_score_loss(y[keep], p[keep], labels=range(C), scale_by_half=False)
    np.testing.assert_allclose(float(segmath.brier_score(*args, ignore_index=255)), ref, rtol=1e-12)
    per = [brier_score_loss(y[i][keep[i]], p[i][keep[i]], labels=range(C), scale_by_half=False) for i in range(3)]
    np.testing.assert_allclose(np.asarray(segmath.brier_score(*args, ignore_index=255, aggregate="none")), per,
                               rtol=1e-12)
    np.testing.assert_allclose(float(segmath.brier_score(*args, ignore_index=255, aggregate="image")), np.mean(per),
                               rtol=1e-12)


def test_binary_brier_matches_sklearn_and_is_half_the_two_channel_form():
    rng = np.random.default_rng(31)
    x = 2 * rng.standard_normal((2, 1, 7, 8))
    y = (rng.random((2, 7, 8)) < 0.3).astype(np.int64)
    ref = brier_score_loss(y.ravel(), expit(x).ravel())
    np.testing.assert_allclose(segmath.brier_score(x, y), ref, rtol=1e-12)
    two = np.concatenate([np.zeros_like(x), x], axis=1)   # softmax(0, x) = (1 - sigmoid(x), sigmoid(x))
    np.testing.assert_allclose(segmath.brier_score(two, y), 2 * ref, rtol=1e-12)


def test_brier_with_soft_targets_brute_force():
    rng = np.random.default_rng(32)
    x = rng.standard_normal((2, 3, 4, 5))
    t = softmax(rng.standard_normal((2, 3, 4, 5)), axis=1)
    ref = np.mean(np.sum((softmax(x, axis=1) - t) ** 2, axis=1))
    np.testing.assert_allclose(segmath.brier_score(x, t), ref, rtol=1e-12)
    onehot = np.moveaxis(np.eye(3)[t.argmax(1)], -1, 1)
    np.testing.assert_allclose(segmath.brier_score(x, onehot), segmath.brier_score(x, t.argmax(1)), rtol=1e-12)


def _ece_brute_force(conf, correct, n_bins, binning):
    """Equal-width: floor(q B) clipped; equal-mass: consecutive ranks of the descending sort, rank r in bin
    floor(r B / n)."""
    n = len(conf)
    if binning == "width":
        bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    else:
        order = np.argsort(-conf, kind="stable")
        bins = np.empty(n, int)
        for r, i in enumerate(order):
            bins[i] = r * n_bins // n
    total = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            total += members.sum() / n * abs(correct[members].mean() - conf[members].mean())
    return total


@pytest.mark.parametrize("binning", ["width", "mass"])
@pytest.mark.parametrize("n_bins", [3, 10, 15])
def test_ece_brute_force(binning, n_bins):
    x, y = make_case(33, n=2, spatial=(7, 9), ignore_index=255)
    p = softmax(x, axis=1)
    keep = y != 255
    conf = p.max(1)[keep]
    correct = (p.argmax(1) == y)[keep].astype(float)
    got = segmath.expected_calibration_error(x, y, ignore_index=255, n_bins=n_bins, binning=binning)
    np.testing.assert_allclose(got, _ece_brute_force(conf, correct, n_bins, binning), rtol=1e-12)
    got_t = segmath.expected_calibration_error(*to_torch((x, y)), ignore_index=255, n_bins=n_bins, binning=binning)
    np.testing.assert_allclose(float(got_t), float(got), rtol=1e-12)


def test_equal_mass_bins_are_array_split_when_divisible():
    rng = np.random.default_rng(34)
    x = rng.standard_normal((1, 1, 6, 10))            # 60 pixels, 6 bins of 10
    y = (rng.random((1, 6, 10)) < 0.5).astype(np.int64)
    q = expit(x).ravel()
    order = np.argsort(-q)
    ref = sum(len(b) / 60 * abs(y.ravel()[b].mean() - q[b].mean()) for b in np.array_split(order, 6))
    np.testing.assert_allclose(segmath.expected_calibration_error(x, y, n_bins=6, binning="mass"), ref, rtol=1e-12)


def test_ece_is_zero_when_each_bin_is_calibrated():
    # binary: confidence 0.25 on four pixels with one positive, 0.75 on four with three
    p = np.array([0.25] * 4 + [0.75] * 4).reshape(1, 1, 2, 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0]).reshape(1, 2, 4)
    for binning, n_bins in (("width", 4), ("mass", 2)):
        for norm in ("l1", "l2", "max"):
            v = segmath.expected_calibration_error(p, y, from_logits=False, n_bins=n_bins, binning=binning, norm=norm)
            assert abs(float(v)) < 1e-15


def test_ece_norms_brute_force():
    x, y = make_case(35, n=2, spatial=(9, 9))
    p = softmax(x, axis=1)
    conf, correct = p.max(1).ravel(), (p.argmax(1) == y).ravel().astype(float)
    bins = np.minimum((conf * 10).astype(int), 9)
    gaps, weights = [], []
    for b in range(10):
        m = bins == b
        if m.any():
            gaps.append(abs(correct[m].mean() - conf[m].mean()))
            weights.append(m.mean())
    gaps, weights = np.array(gaps), np.array(weights)
    np.testing.assert_allclose(segmath.expected_calibration_error(x, y, n_bins=10, norm="l2"),
                               np.sqrt(np.sum(weights * gaps ** 2)), rtol=1e-12)
    np.testing.assert_allclose(segmath.expected_calibration_error(x, y, n_bins=10, norm="max"), gaps.max(), rtol=1e-12)


def test_soft_target_ece_uses_probability_of_the_argmax_class():
    rng = np.random.default_rng(36)
    x = rng.standard_normal((1, 3, 4, 4))
    onehot = np.moveaxis(np.eye(3)[rng.integers(0, 3, (1, 4, 4))], -1, 1)
    np.testing.assert_allclose(segmath.expected_calibration_error(x, onehot),
                               segmath.expected_calibration_error(x, onehot.argmax(1)), rtol=1e-12)


def test_ece_finite_at_saturated_float32_logits():
    x = torch.tensor([[[[1e4, -1e4]], [[-1e4, 1e4]]]], dtype=torch.float32)   # (1, 2, 1, 2), confident
    y = torch.tensor([[[0, 0]]])
    v = segmath.expected_calibration_error(x, y)
    assert torch.isfinite(v) and abs(float(v) - 0.5) < 1e-6        # conf 1, accuracy 1/2
    assert abs(float(segmath.brier_score(x, y)) - 1.0) < 1e-6        # (0 + 2) / 2


def test_calibration_bad_options():
    x, y = make_case(37, n=1)
    for kwargs, name in [({"n_bins": 0}, "n_bins"), ({"binning": "quantile"}, "binning"), ({"norm": "l3"}, "norm"),
                         ({"aggregate": "batch"}, "aggregate")]:
        with pytest.raises(ValueError, match=name):
            segmath.expected_calibration_error(x, y, **kwargs)
    with pytest.raises(ValueError, match="aggregate"):
        segmath.brier_score(x, y, aggregate="batch")
