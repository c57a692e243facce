"""Region-based and compound losses against independent oracles.

Oracles: MONAI (DiceLoss, squared_pred, jaccard, TverskyLoss, GeneralizedDiceLoss, MCCLoss), smp
(DiceLoss, JaccardLoss, TverskyLoss, MCCLoss, soft-label forms), torch.nn.functional, formulas
written out here in NumPy from the definitions, and hypothesis properties (ranges, zeros,
D = 2J/(1+J), JML/DML = Jaccard/Dice on hard labels, Tversky special cases, symmetry).
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import segmath
from oracles import monai_losses, monai_softmax_loss, one_hot, smp_losses

S = 1e-5


def _problem(seed, n=3, c=4, spatial=(6, 7), ignore=None):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(2.0 * rng.standard_normal((n, c) + spatial))
    y = torch.from_numpy(rng.integers(0, c, size=(n,) + spatial))
    if ignore is not None:
        y[torch.from_numpy(rng.random(y.shape) < 0.15)] = ignore
    return x, y


# ---- MONAI ------------------------------------------------------------------------------

@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("spatial", [(6, 7), (3, 4, 5)])
def test_dice_matches_monai(batch, spatial):
    x, y = _problem(0, spatial=spatial)
    ref = monai_softmax_loss(monai_losses.DiceLoss, x, y, batch=batch, smooth_nr=S, smooth_dr=S)
    ours = segmath.dice(x, y, smooth=S, aggregate="batch" if batch else "image")
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


def test_dice_matches_monai_with_ignore_index_and_weight():
    x, y = _problem(1, ignore=-1)
    w = [0.5, 1.0, 2.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = monai_losses.DiceLoss(softmax=True, to_onehot_y=True, ignore_index=-1, weight=w,
                                    smooth_nr=S, smooth_dr=S)(x, y[:, None])
    ours = segmath.dice(x, y, ignore_index=-1, weight=w, smooth=S)
    # MONAI averages w_c L_nc over all (n, c); segmath divides by sum_c w_c
    torch.testing.assert_close(ours * sum(w) / len(w), ref, rtol=1e-10, atol=1e-12)


def test_squared_dice_matches_monai_squared_pred():
    x, y = _problem(2)
    ref = monai_softmax_loss(monai_losses.DiceLoss, x, y, squared_pred=True, smooth_nr=S, smooth_dr=S)
    torch.testing.assert_close(segmath.squared_dice(x, y, smooth=S), ref, rtol=1e-10, atol=1e-12)


def test_jaccard_matches_monai_jaccard_with_doubled_smoothing():
    x, y = _problem(3)
    ref = monai_softmax_loss(monai_losses.DiceLoss, x, y, jaccard=True, smooth_nr=2 * S, smooth_dr=2 * S)
    torch.testing.assert_close(segmath.jaccard(x, y, smooth=S), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha,beta", [(0.3, 0.7), (0.8, 0.1)])
@pytest.mark.parametrize("batch", [False, True])
def test_tversky_matches_monai_alpha_on_false_positives(alpha, beta, batch):
    x, y = _problem(4)
    ref = monai_softmax_loss(monai_losses.TverskyLoss, x, y, alpha=alpha, beta=beta, batch=batch, smooth_nr=S, smooth_dr=S)
    ours = segmath.tversky(x, y, alpha=alpha, beta=beta, smooth=S, aggregate="batch" if batch else "image")
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    swapped = segmath.tversky(x, y, alpha=beta, beta=alpha, smooth=S, aggregate="batch" if batch else "image")
    assert abs(float(swapped - ref)) > 1e-4  # the test would catch an alpha/beta swap


@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [False, True])
def test_generalized_dice_matches_monai_including_empty_classes(w_type, batch):
    x, y = _problem(5, c=4)
    y[0][y[0] == 3] = 0           # class 3 absent from image 0: infinite weight -> max finite weight
    y[:, :][y == 2] = 1           # class 2 absent from the whole batch
    ref = monai_softmax_loss(monai_losses.GeneralizedDiceLoss, x, y, w_type=w_type, batch=batch, smooth_nr=S, smooth_dr=S)
    ours = segmath.generalized_dice(x, y, weight_type=w_type, smooth=S, aggregate="batch" if batch else "image")
    torch.testing.assert_close(ours, ref, rtol=1e-7, atol=1e-12)  # MONAI computes the weights in float32


@pytest.mark.parametrize("batch", [False, True])
def test_mcc_loss_matches_monai(batch):
    x, y = _problem(6)
    ref = monai_softmax_loss(monai_losses.MCCLoss, x, y, batch=batch, smooth_nr=S, smooth_dr=S)
    ours = segmath.mcc_loss(x, y, smooth=S, aggregate="batch" if batch else "image")
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


def test_mcc_loss_perfect_prediction_is_zero_like_monai():
    y = torch.tensor([[[0, 0], [0, 0]], [[0, 1], [1, 1]]])
    p = one_hot(y, 2)             # image 0: class 1 empty in target and prediction (MCC undefined)
    ref = monai_losses.MCCLoss(smooth_nr=S, smooth_dr=S, reduction="none")(p, one_hot(y, 2))
    ours = segmath.mcc_loss(p, y, from_logits=False, smooth=S, reduction="none")
    torch.testing.assert_close(ours, ref.reshape(ours.shape), rtol=1e-12, atol=1e-12)
    assert float(ours.abs().max()) == 0.0


# ---- smp ----------------------------------------------------------------------------------

def test_dice_jaccard_log_dice_match_smp_batch_form():
    smp = smp_losses()
    x, y = _problem(7)
    s = 0.5
    ref_d = smp.DiceLoss("multiclass", smooth=s)(x, y)
    ref_ld = smp.DiceLoss("multiclass", smooth=s, log_loss=True)(x, y)
    ref_j = smp.JaccardLoss("multiclass", smooth=s)(x, y)
    # smp pools the batch; its Dice intersection is halved, so its smoothing counts double
    torch.testing.assert_close(segmath.dice(x, y, smooth=2 * s, aggregate="batch"), ref_d, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(segmath.log_dice(x, y, smooth=2 * s, aggregate="batch"), ref_ld,
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(segmath.jaccard(x, y, smooth=s, aggregate="batch"), ref_j, rtol=1e-10, atol=1e-12)


def test_tversky_and_focal_tversky_match_smp_binary():
    smp = smp_losses()
    x, _ = _problem(8, c=1)
    y = torch.from_numpy(np.random.default_rng(8).integers(0, 2, size=(3, 6, 7)))
    ref = smp.TverskyLoss("binary", alpha=0.2, beta=0.9, smooth=S)(x, y)
    torch.testing.assert_close(segmath.tversky(x, y, alpha=0.2, beta=0.9, smooth=S, aggregate="batch"), ref,
                               rtol=1e-10, atol=1e-12)
    ref_f = smp.TverskyLoss("binary", alpha=0.2, beta=0.9, gamma=0.75, smooth=S)(x, y)
    ours_f = segmath.focal_tversky(x, y, alpha=0.2, beta=0.9, exponent=0.75, smooth=S, aggregate="batch")
    torch.testing.assert_close(ours_f, ref_f, rtol=1e-10, atol=1e-12)


def test_mcc_loss_matches_smp_binary():
    smp = smp_losses()
    rng = np.random.default_rng(9)
    p = torch.from_numpy(rng.uniform(size=(3, 1, 5, 6)))
    y = torch.from_numpy(rng.integers(0, 2, size=(3, 1, 5, 6))).double()
    ref = smp.MCCLoss(eps=1e-14)(p, y)
    ours = segmath.mcc_loss(p, y, from_logits=False, smooth=0, aggregate="batch")
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-12)


def test_soft_label_forms_match_smp():
    """smp computes its intersection as (|p| + |y| - |p - y|) / 2: with soft targets its Dice and Jaccard
    losses are Wang et al.'s DML (smoothing doubled) and JML1."""
    smp = smp_losses()
    rng = np.random.default_rng(10)
    x = torch.from_numpy(rng.standard_normal((2, 3, 5, 6)))
    y = torch.from_numpy(rng.uniform(size=(2, 3, 5, 6)))
    s = 0.25
    ref_d = smp.DiceLoss("multilabel", smooth=s)(x, y)
    ref_j = smp.JaccardLoss("multilabel", smooth=s)(x, y)
    kw = dict(activation="sigmoid", aggregate="batch")
    torch.testing.assert_close(segmath.dice_semimetric(x, y, smooth=2 * s, **kw), ref_d, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(segmath.jaccard_metric(x, y, variant="jml1", smooth=s, **kw), ref_j,
                               rtol=1e-10, atol=1e-12)


# ---- formulas written out ------------------------------------------------------------------

def _np_counts(p, y):
    axes = tuple(range(2, p.ndim))
    return (p * y).sum(axes), p.sum(axes), y.sum(axes), np.abs(p - y).sum(axes)


def test_jml2_and_log_forms_against_numpy_formulas():
    rng = np.random.default_rng(11)
    p = rng.dirichlet(np.ones(3), size=(2, 4, 5)).transpose(0, 3, 1, 2)
    y = rng.dirichlet(np.ones(3), size=(2, 4, 5)).transpose(0, 3, 1, 2)
    tp, sp, sy, l1 = _np_counts(p, y)
    s = 1e-3
    cases = {
        "jml2": (segmath.jaccard_metric(p, y, variant="jml2", from_logits=False, smooth=s, reduction="none"),
                 1 - (tp + s) / (tp + l1 + s)),
        "log_jaccard": (segmath.log_jaccard(p, y, from_logits=False, smooth=s, reduction="none"),
                        -np.log((tp + s) / (sp + sy - tp + s))),
        "log_cosh_dice": (segmath.log_cosh_dice(p, y, from_logits=False, smooth=s, reduction="none"),
                          np.log(np.cosh(1 - (2 * tp + s) / (sp + sy + s)))),
        "focal_tversky": (segmath.focal_tversky(p, y, alpha=0.4, beta=0.9, exponent=1.5, from_logits=False,
                                                smooth=s, reduction="none"),
                          (1 - (tp + s) / (tp + 0.4 * (sp - tp) + 0.9 * (sy - tp) + s)) ** 1.5),
    }
    for name, (ours, ref) in cases.items():
        np.testing.assert_allclose(ours, ref, rtol=1e-12, err_msg=name)


def test_reduction_sum_is_the_slides_sum_over_classes():
    x, y = _problem(12, n=1)
    p = torch.softmax(x, 1).numpy()
    yy = one_hot(y, 4).numpy()
    tp, sp, sy, _ = _np_counts(p, yy)
    slides = np.sum(-np.log(2 * tp / (sp + sy)))
    np.testing.assert_allclose(float(segmath.log_dice(x, y, smooth=0, reduction="sum")), slides, rtol=1e-12)


# ---- compound ----------------------------------------------------------------------------

def test_bce_dice_is_the_sum_of_torch_ce_and_monai_dice():
    x, y = _problem(13)
    ref = F.cross_entropy(x, y) + monai_softmax_loss(monai_losses.DiceLoss, x, y, smooth_nr=S, smooth_dr=S)
    torch.testing.assert_close(segmath.bce_dice(x, y, smooth=S), ref, rtol=1e-10, atol=1e-12)
    xb, yb = _problem(14, c=1)
    yb = yb % 2
    ref_b = 0.3 * F.binary_cross_entropy_with_logits(xb, yb[:, None].double()) + \
        2.0 * monai_losses.DiceLoss(sigmoid=True, smooth_nr=S, smooth_dr=S)(xb, yb[:, None].double())
    torch.testing.assert_close(segmath.bce_dice(xb, yb, lambda_ce=0.3, lambda_dice=2.0, smooth=S), ref_b,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha,beta", [(0.5, 0.5), (0.3, 0.8)])
def test_combo_binary_against_its_formula(alpha, beta):
    xb, yb = _problem(15, c=1)
    yb = (yb % 2)[:, None].double()
    p = torch.sigmoid(xb)
    ce = -(beta * yb * torch.log(p) + (1 - beta) * (1 - yb) * torch.log(1 - p)).mean()
    d = monai_losses.DiceLoss(sigmoid=True, smooth_nr=S, smooth_dr=S)(xb, yb)
    ref = alpha * ce + (1 - alpha) * d
    torch.testing.assert_close(segmath.combo(xb, yb, alpha=alpha, beta=beta, smooth=S), ref, rtol=1e-10, atol=1e-12)
    # the paper's alpha*CE - (1-alpha)*Dice coefficient differs by the constant 1 - alpha
    paper = alpha * ce - (1 - alpha) * (1 - d)
    torch.testing.assert_close(segmath.combo(xb, yb, alpha=alpha, beta=beta, smooth=S) - (1 - alpha), paper)


def test_combo_softmax_two_classes_equals_binary_form():
    x, y = _problem(16, c=2, ignore=-1)
    beta = 0.7
    logp = torch.log_softmax(x, 1)
    valid = y != -1
    yc = y.clamp(min=0)
    per = -(beta * (yc == 1).double() * logp[:, 1] + (1 - beta) * (yc == 0).double() * logp[:, 0])
    ce = per[valid].mean()
    d = segmath.dice(x, y, ignore_index=-1, smooth=S)
    torch.testing.assert_close(segmath.combo(x, y, alpha=0.4, beta=beta, ignore_index=-1, smooth=S),
                               0.4 * ce + 0.6 * d, rtol=1e-10, atol=1e-12)


def test_combo_softmax_multiclass_with_weights_against_its_formula():
    x, y = _problem(21, c=3)
    beta, w = 0.6, torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    v = w * torch.tensor([1 - beta, beta, beta], dtype=torch.float64)
    nll = -torch.log_softmax(x, 1).gather(1, y[:, None])[:, 0]
    ce = (v[y] * nll).mean()                          # plain mean over pixels, not over the weights
    d = monai_softmax_loss(monai_losses.DiceLoss, x, y, smooth_nr=S, smooth_dr=S, reduction="none")[..., 0, 0]
    dice_term = ((d * w).sum(1) / w.sum()).mean()
    ref = 0.3 * ce + 0.7 * dice_term
    torch.testing.assert_close(segmath.combo(x, y, alpha=0.3, beta=beta, weight=w.tolist(), smooth=S), ref,
                               rtol=1e-10, atol=1e-12)


def test_exp_log_against_its_formula():
    x, y = _problem(17, ignore=-1)  # noqa: N806
    valid = y != -1
    yc = y.clamp(min=0)
    p = torch.softmax(x, 1)
    oh = one_hot(yc, 4) * valid[:, None]
    tp, sp, sy = (p * oh).sum((2, 3)), (p * valid[:, None]).sum((2, 3)), oh.sum((2, 3))
    dice_term = ((-torch.log((2 * tp + S) / (sp + sy + S))) ** 0.3).mean()
    f = torch.bincount(y[valid], minlength=4).double()
    w = torch.sqrt(f.sum() / f)
    nll = -torch.log_softmax(x, 1).gather(1, yc[:, None])[:, 0]
    ce_term = (w[yc] * nll ** 0.3)[valid].mean()
    ref = 0.8 * dice_term + 0.2 * ce_term
    torch.testing.assert_close(segmath.exp_log(x, y, ignore_index=-1, smooth=S), ref, rtol=1e-10, atol=1e-12)


def test_exp_log_binary_against_its_formula():
    x, _ = _problem(22, c=1)
    y = torch.from_numpy(np.random.default_rng(22).integers(0, 2, size=(3, 6, 7)))
    p = torch.sigmoid(x[:, 0])
    yd = y.double()
    tp, sp, sy = (p * yd).sum((1, 2)), p.sum((1, 2)), yd.sum((1, 2))
    dice_term = ((-torch.log((2 * tp + S) / (sp + sy + S))) ** 0.5).mean()
    f1, f0 = yd.sum(), (1 - yd).sum()
    w = torch.where(y == 1, torch.sqrt((f0 + f1) / f1), torch.sqrt((f0 + f1) / f0))
    bce = F.binary_cross_entropy_with_logits(x[:, 0], yd, reduction="none")
    ref = 0.5 * dice_term + 1.5 * (w * bce ** 0.25).mean()
    ours = segmath.exp_log(x, y, gamma_dice=0.5, gamma_ce=0.25, lambda_dice=0.5, lambda_ce=1.5, smooth=S)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)


def test_exp_log_gradient_finite_at_a_perfect_prediction():
    y = torch.tensor([[[0, 1], [1, 0]]])
    x = (100.0 * (2 * one_hot(y, 2) - 1)).requires_grad_(True)
    out = segmath.exp_log(x, y)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()


# ---- empty policy ---------------------------------------------------------------------------

RATIO_LOSSES = ["dice", "log_dice", "squared_dice", "log_cosh_dice", "jaccard", "log_jaccard", "tversky",
                "focal_tversky", "jaccard_metric", "dice_semimetric"]


@pytest.mark.parametrize("name", RATIO_LOSSES)
def test_empty_target_and_empty_prediction_cost_nothing(name):
    y = np.zeros((1, 1, 4, 4))                          # binary, nothing in target or prediction
    out = getattr(segmath, name)(np.zeros_like(y), y, from_logits=False)
    assert abs(float(out)) < 1e-12


@pytest.mark.parametrize("name", ["dice", "squared_dice", "jaccard", "tversky", "focal_tversky",
                                  "jaccard_metric", "dice_semimetric"])
def test_empty_target_with_false_positives_costs_about_one(name):
    y = np.zeros((1, 1, 4, 4))
    p = np.zeros_like(y)
    p[0, 0, 0, :2] = 1.0                                # two false-positive pixels
    out = float(getattr(segmath, name)(p, y, from_logits=False))
    assert out > 1 - 1e-4                               # smp's DiceLoss gives 0 here


def test_generalized_dice_all_classes_absent_is_zero():
    x = np.random.default_rng(0).standard_normal((1, 3, 2, 2))
    y = np.full((1, 2, 2), -1)
    assert float(segmath.generalized_dice(x, y, ignore_index=-1)) == 0.0


# ---- properties (hypothesis) -------------------------------------------------------------

def _soft_pair(seed, c=3, shape=(2, 4, 5), hard_target=False):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c) * 0.7, size=(shape[0],) + shape[1:])
    p = np.moveaxis(p, -1, 1)
    if hard_target:
        y = rng.integers(0, c, size=shape)
        return p, y, np.moveaxis(np.eye(c)[y], -1, 1)
    y = np.moveaxis(rng.dirichlet(np.ones(c) * 0.7, size=(shape[0],) + shape[1:]), -1, 1)
    return p, y, y


seeds = st.integers(0, 2 ** 31 - 1)
UNIT_RANGE = ["dice", "squared_dice", "jaccard", "tversky", "focal_tversky", "jaccard_metric",
              "dice_semimetric", "generalized_dice", "lovasz_softmax"]


@settings(max_examples=30, deadline=None)
@given(seeds, st.booleans())
def test_ranges(seed, hard):
    p, y, dense = _soft_pair(seed, hard_target=hard)
    for name in UNIT_RANGE:
        if name == "lovasz_softmax" and not hard:
            continue
        v = getattr(segmath, name)(p, y, from_logits=False, reduction="none")
        assert np.all(v >= -1e-12) and np.all(v <= 1 + 1e-12), name
    v = segmath.log_cosh_dice(p, y, from_logits=False, reduction="none")
    assert np.all(v >= 0) and np.all(v <= np.log(np.cosh(1.0)) + 1e-12)
    v = segmath.mcc_loss(p, y, from_logits=False, reduction="none")
    assert np.all(v >= -1e-9) and np.all(v <= 2 + 1e-9)
    for name in ("log_dice", "log_jaccard"):
        assert np.all(getattr(segmath, name)(p, y, from_logits=False, reduction="none") >= -1e-12)


ZERO_AT_PERFECT = ["dice", "log_dice", "squared_dice", "log_cosh_dice", "jaccard", "log_jaccard", "tversky",
                   "focal_tversky", "jaccard_metric", "dice_semimetric", "generalized_dice", "mcc_loss",
                   "lovasz_softmax", "bce_dice", "exp_log"]


@settings(max_examples=15, deadline=None)
@given(seeds)
def test_zero_at_perfect_prediction(seed):
    _, y, onehot = _soft_pair(seed, hard_target=True)
    for name in ZERO_AT_PERFECT:
        v = float(getattr(segmath, name)(onehot.copy(), y, from_logits=False))
        assert abs(v) < 1e-6, (name, v)


@settings(max_examples=30, deadline=None)
@given(seeds)
def test_dice_jaccard_bijection_for_soft_values(seed):
    p, y, _ = _soft_pair(seed)
    d = 1 - segmath.dice(p, y, from_logits=False, smooth=0, reduction="none")
    j = 1 - segmath.jaccard(p, y, from_logits=False, smooth=0, reduction="none")
    np.testing.assert_allclose(d, 2 * j / (1 + j), rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seeds, st.sampled_from(["image", "batch"]))
def test_jml_and_dml_equal_jaccard_and_dice_on_hard_labels(seed, aggregate):
    p, y, onehot = _soft_pair(seed, hard_target=True)
    kw = dict(from_logits=False, aggregate=aggregate, reduction="none", smooth=1e-3)
    jac, dic = segmath.jaccard(p, y, **kw), segmath.dice(p, y, **kw)
    for target in (y, onehot):
        for variant in ("jml1", "jml2"):
            np.testing.assert_allclose(segmath.jaccard_metric(p, target, variant=variant, **kw), jac, rtol=1e-12)
        np.testing.assert_allclose(segmath.dice_semimetric(p, target, **kw), dic, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seeds)
def test_tversky_special_cases_and_symmetries(seed):
    p, y, _ = _soft_pair(seed)
    kw = dict(from_logits=False, reduction="none")
    np.testing.assert_allclose(segmath.tversky(p, y, alpha=0.5, beta=0.5, smooth=0, **kw),
                               segmath.dice(p, y, smooth=0, **kw), rtol=1e-12)
    np.testing.assert_allclose(segmath.tversky(p, y, alpha=0.5, beta=0.5, smooth=1e-3, **kw),
                               segmath.dice(p, y, smooth=2e-3, **kw), rtol=1e-12)
    np.testing.assert_allclose(segmath.tversky(p, y, alpha=1.0, beta=1.0, **kw), segmath.jaccard(p, y, **kw),
                               rtol=1e-12)
    np.testing.assert_allclose(segmath.tversky(p, y, alpha=0.2, beta=0.9, **kw),
                               segmath.tversky(y, p, alpha=0.9, beta=0.2, **kw), rtol=1e-12)
    for name in ("dice", "jaccard", "squared_dice", "jaccard_metric", "dice_semimetric", "mcc_loss"):
        fn = getattr(segmath, name)
        np.testing.assert_allclose(fn(p, y, **kw), fn(y, p, **kw), rtol=1e-12, err_msg=name)


@settings(max_examples=20, deadline=None)
@given(seeds)
def test_jml_and_dml_vanish_at_a_soft_target_but_soft_jaccard_does_not(seed):
    _, y, _ = _soft_pair(seed)
    kw = dict(from_logits=False, smooth=0)
    for variant in ("jml1", "jml2"):
        assert abs(float(segmath.jaccard_metric(y.copy(), y, variant=variant, **kw))) < 1e-12
    assert abs(float(segmath.dice_semimetric(y.copy(), y, **kw))) < 1e-12
    assert float(segmath.jaccard(y.copy(), y, **kw)) > 0.1


def test_soft_dice_gradient_is_constant_within_each_class():
    """S15: d D / d p_i = 2 (y_i S - I) / S^2, one value for the foreground, one for the background."""
    rng = np.random.default_rng(18)
    p = torch.from_numpy(rng.uniform(size=(1, 1, 6, 6))).requires_grad_(True)
    y = torch.from_numpy(rng.integers(0, 2, size=(1, 1, 6, 6))).double()
    segmath.dice(p, y, from_logits=False, smooth=0).backward()
    g = -p.grad
    fg, bg = g[y == 1], g[y == 0]
    i, s = float((p * y).sum().detach()), float((p.sum() + y.sum()).detach())
    torch.testing.assert_close(fg, torch.full_like(fg, 2 * (s - i) / s ** 2))
    torch.testing.assert_close(bg, torch.full_like(bg, -2 * i / s ** 2))


def test_region_losses_in_3d_match_2d_flattening():
    rng = np.random.default_rng(19)
    x = rng.standard_normal((2, 3, 3, 4, 5))
    y = rng.integers(0, 3, size=(2, 3, 4, 5))
    for name in ("dice", "tversky", "generalized_dice", "jaccard_metric", "mcc_loss", "lovasz_softmax"):
        fn = getattr(segmath, name)
        np.testing.assert_allclose(fn(x, y), fn(x.reshape(2, 3, 12, 5), y.reshape(2, 12, 5)), rtol=1e-12)


def test_bad_options_are_rejected_by_name():
    x, y = _problem(20)
    for fn, kw, name in [(segmath.tversky, {"alpha": -0.1}, "alpha"), (segmath.tversky, {"beta": "a"}, "beta"),
                         (segmath.focal_tversky, {"exponent": 0.0}, "exponent"),
                         (segmath.generalized_dice, {"weight_type": "cube"}, "weight_type"),
                         (segmath.jaccard_metric, {"variant": "jml3"}, "variant"),
                         (segmath.dice, {"smooth": -1.0}, "smooth"), (segmath.dice, {"aggregate": "all"}, "aggregate"),
                         (segmath.combo, {"beta": 1.0}, "beta"), (segmath.combo, {"alpha": 2.0}, "alpha"),
                         (segmath.bce_dice, {"reduction": "none"}, "reduction"),
                         (segmath.exp_log, {"gamma_ce": 0}, "gamma_ce")]:
        with pytest.raises((ValueError, TypeError), match=name):
            fn(x, y, **kw)
