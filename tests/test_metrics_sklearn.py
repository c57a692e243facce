"""Every confusion metric against scikit-learn: per class and each class average, each empty policy,
dataset aggregation (scikit-learn on all counted pixels) and image aggregation (a loop over images)."""
import warnings
from functools import partial

import numpy as np
import pytest
from sklearn import metrics as skm

import segmath
from conftest import to_torch
from oracles import make_case, per_image, pooled

C = 4
LABELS = list(range(C))
ZERO_DIVISION = {"skip": np.nan, "zero": 0.0, "one": 1.0}


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fn(*args, **kwargs), dtype=float)


def _sk_specificity(yt, yp, average, zero_division):
    """TN / (TN + FP) from scikit-learn's one-vs-rest counts, averaged like scikit-learn would."""
    mcm = skm.multilabel_confusion_matrix(yt, yp, labels=LABELS)
    tn, fp, fn, tp = mcm[:, 0, 0], mcm[:, 0, 1], mcm[:, 1, 0], mcm[:, 1, 1]
    if average == "micro":
        return tn.sum() / (tn + fp).sum() if (tn + fp).sum() else zero_division
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(tn + fp > 0, tn / np.maximum(tn + fp, 1), zero_division)
    if average is None:
        return per
    keep = ~np.isnan(per)
    w = (tp + fn) if average == "weighted" else np.ones(C)
    if not keep.any() or w[keep].sum() == 0:
        return np.nan
    return np.sum(per[keep] * w[keep]) / w[keep].sum()


SKLEARN = {
    "iou": skm.jaccard_score,
    "dice_score": skm.f1_score,
    "fbeta_score": partial(skm.fbeta_score, beta=2.0),
    "precision": skm.precision_score,
    "recall": skm.recall_score,
    "specificity": _sk_specificity,
}
OURS = {"fbeta_score": partial(segmath.fbeta_score, beta=2.0)}


def _sk_jaccard_skip(yt, yp, average):
    """jaccard_score has no zero_division=nan: the undefined entries are those where 0 and 1 differ."""
    def both(avg):
        a, b = (_quiet(skm.jaccard_score, yt, yp, labels=LABELS, average=avg, zero_division=z) for z in (0, 1))
        return np.where(a != b, np.nan, a)
    if average in (None, "micro"):
        return both(average)
    per = both(None)
    keep = ~np.isnan(per)
    if not keep.any():
        return np.nan
    w = np.bincount(yt, minlength=C)[keep] if average == "weighted" else np.ones(keep.sum())
    return np.sum(per[keep] * w) / w.sum()


def _sk(name, yt, yp, average, empty):
    average = None if average == "none" else average
    zd = ZERO_DIVISION[empty]
    if name == "specificity":
        return np.asarray(_sk_specificity(yt, yp, average, zd), dtype=float)
    if name == "iou" and empty == "skip":
        return _sk_jaccard_skip(yt, yp, average)
    return _quiet(SKLEARN[name], yt, yp, labels=LABELS, average=average, zero_division=zd)


def _image_mean(values):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(np.stack(values), axis=0)


@pytest.mark.parametrize("name", sorted(SKLEARN))
@pytest.mark.parametrize("average", ["none", "macro", "micro", "weighted"])
@pytest.mark.parametrize("empty", ["skip", "zero", "one"])
def test_classwise_metrics_match_sklearn(name, average, empty):
    x, y = make_case(10, n=4, ignore_index=255)
    fn = OURS.get(name, getattr(segmath, name))
    kw = dict(ignore_index=255, average=average, empty=empty)
    # dataset: scikit-learn on every counted pixel
    np.testing.assert_allclose(fn(x, y, aggregate="dataset", **kw), _sk(name, *pooled(x, y, 255), average, empty),
                               rtol=1e-12, atol=1e-12)
    # per image, and the mean over images that leaves undefined values out
    images = [_sk(name, yt, yp, average, empty) for yt, yp in per_image(x, y, 255)]
    np.testing.assert_allclose(fn(x, y, aggregate="none", **kw), np.stack(images), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fn(x, y, aggregate="image", **kw), _image_mean(images), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_binary_average_matches_sklearn_on_one_channel_input(name):
    rng = np.random.default_rng(11)
    x = 2 * rng.standard_normal((3, 1, 5, 4, 3))                    # 3-D, sigmoid
    y = (rng.random((3, 5, 4, 3)) < 0.3).astype(np.int64)
    pred = (x[:, 0] > 0).astype(int)
    fn = OURS.get(name, getattr(segmath, name))
    got = fn(x, y, average="binary", aggregate="dataset")
    if name == "specificity":
        ref = skm.recall_score(y.ravel() == 0, pred.ravel() == 0)   # recall of the negative class
    else:
        ref = _quiet(SKLEARN[name], y.ravel(), pred.ravel(), average="binary")
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("spatial", [(6, 7), (3, 4, 5)])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_accuracies_match_sklearn(spatial, backend):
    x, y = make_case(12, n=4, spatial=spatial, ignore_index=255)
    args = (x, y) if backend == "numpy" else to_torch((x, y))
    yt, yp = pooled(x, y, 255)
    images = per_image(x, y, 255)
    for fn, ref in [(segmath.pixel_accuracy, skm.accuracy_score),
                    (segmath.mean_accuracy, skm.balanced_accuracy_score),
                    (segmath.balanced_accuracy, skm.balanced_accuracy_score),
                    (partial(segmath.balanced_accuracy, adjusted=True),
                     partial(skm.balanced_accuracy_score, adjusted=True))]:
        np.testing.assert_allclose(float(fn(*args, ignore_index=255, aggregate="dataset")), _quiet(ref, yt, yp),
                                   rtol=1e-12)
        per = [_quiet(ref, t, p) for t, p in images]
        np.testing.assert_allclose(np.asarray(fn(*args, ignore_index=255, aggregate="none")), per, rtol=1e-12)
        np.testing.assert_allclose(float(fn(*args, ignore_index=255)), np.nanmean(per), rtol=1e-12)


@pytest.mark.parametrize("spatial", [(6, 7), (3, 4, 5)])
def test_mcc_matches_sklearn(spatial):
    x, y = make_case(13, n=5, spatial=spatial, ignore_index=255)
    yt, yp = pooled(x, y, 255)
    np.testing.assert_allclose(segmath.mcc(x, y, ignore_index=255, aggregate="dataset"),
                               skm.matthews_corrcoef(yt, yp), rtol=1e-12)
    # scikit-learn returns 0 where MCC is undefined: empty="zero"
    per = [skm.matthews_corrcoef(t, p) for t, p in per_image(x, y, 255)]
    np.testing.assert_allclose(segmath.mcc(x, y, ignore_index=255, aggregate="none", empty="zero"), per,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(segmath.mcc(x, y, ignore_index=255, empty="zero"), np.mean(per), rtol=1e-12)


def test_mcc_binary_is_matthews_formula():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 1, 9, 9))
    y = (rng.random((2, 9, 9)) < 0.3).astype(np.int64)
    pred = (x[:, 0] > 0).ravel()
    t = y.ravel() == 1
    tp, tn = np.sum(pred & t), np.sum(~pred & ~t)
    fp, fn = np.sum(pred & ~t), np.sum(~pred & t)
    ref = (tp * tn - fp * fn) / np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    np.testing.assert_allclose(segmath.mcc(x, y, aggregate="dataset"), ref, rtol=1e-12)


@pytest.mark.parametrize("weighting", [None, "linear", "quadratic"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_cohen_kappa_matches_sklearn(weighting, backend):
    x, y = make_case(15, n=4, ignore_index=255)
    args = (x, y) if backend == "numpy" else to_torch((x, y))
    yt, yp = pooled(x, y, 255)
    ref = skm.cohen_kappa_score(yt, yp, labels=LABELS, weights=weighting)
    got = segmath.cohen_kappa(*args, ignore_index=255, weighting=weighting, aggregate="dataset")
    np.testing.assert_allclose(float(got), ref, rtol=1e-12)
    per = [_quiet(skm.cohen_kappa_score, t, p, labels=LABELS, weights=weighting) for t, p in per_image(x, y, 255)]
    got = segmath.cohen_kappa(*args, ignore_index=255, weighting=weighting, aggregate="none")
    np.testing.assert_allclose(np.asarray(got), per, rtol=1e-12)


def test_specificity_is_recall_of_the_negative_class():
    x, y = make_case(16)
    pred = x.argmax(1).ravel()
    got = segmath.specificity(x, y, average="none", aggregate="dataset")
    ref = [skm.recall_score(y.ravel() != c, pred != c) for c in range(C)]
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_fw_iou_and_mean_iou_are_weighted_and_macro_jaccard():
    x, y = make_case(17, n=3, ignore_index=255)
    yt, yp = pooled(x, y, 255)
    np.testing.assert_allclose(segmath.fw_iou(x, y, ignore_index=255, aggregate="dataset"),
                               skm.jaccard_score(yt, yp, labels=LABELS, average="weighted"), rtol=1e-12)
    np.testing.assert_allclose(segmath.mean_iou(x, y, ignore_index=255, aggregate="dataset"),
                               _sk_jaccard_skip(yt, yp, "macro"), rtol=1e-12)


def test_dataset_and_image_mean_iou_differ_and_match_brute_force():
    """The per-image mean (torchmetrics MeanIoU) and the dataset mIoU (Cityscapes) differ."""
    y = np.zeros((2, 10, 10), dtype=np.int64)
    y[0, :5] = 1                       # image 0: a large object, found exactly
    y[1, 0, 0] = 1                     # image 1: a one-pixel object, missed
    pred = y.copy()
    pred[1, 0, 0] = 0
    per_image_iou = []
    for n in range(2):                 # brute force, class by class
        ious = []
        for c in range(2):
            inter = np.sum((pred[n] == c) & (y[n] == c))
            union = np.sum((pred[n] == c) | (y[n] == c))
            if union:
                ious.append(inter / union)
        per_image_iou.append(np.mean(ious))
    inter = [np.sum((pred == c) & (y == c)) for c in range(2)]
    union = [np.sum((pred == c) | (y == c)) for c in range(2)]
    dataset = np.mean(np.divide(inter, union))
    image = segmath.mean_iou(pred, y, num_classes=2)
    np.testing.assert_allclose(image, np.mean(per_image_iou), rtol=1e-12)
    np.testing.assert_allclose(segmath.mean_iou(pred, y, num_classes=2, aggregate="dataset"), dataset, rtol=1e-12)
    assert abs(float(image) - dataset) > 0.2


# ---- the empty policy on the two canonical cases ----------------------------------

def _canonical():
    """Image 0: target and prediction both empty (class 1); image 1: empty target, 3 false positives."""
    y = np.zeros((2, 4, 4), dtype=np.int64)
    pred = np.zeros_like(y)
    pred[1, 0, :3] = 1
    return pred, y


@pytest.mark.parametrize("name", ["iou", "dice_score", "fbeta_score"])
@pytest.mark.parametrize("empty, both_empty", [("skip", np.nan), ("zero", 0.0), ("one", 1.0)])
def test_empty_policy_for_overlap_metrics(name, empty, both_empty):
    pred, y = _canonical()
    fn = getattr(segmath, name)
    got = fn(pred, y, num_classes=2, average="binary", aggregate="none", empty=empty)
    np.testing.assert_array_equal(got, [both_empty, 0.0])       # false positives on an empty target: 0
    mean = fn(pred, y, num_classes=2, average="binary", empty=empty)
    np.testing.assert_allclose(mean, 0.0 if empty == "skip" else both_empty / 2)
    # scikit-learn's zero_division is the same policy
    if not (name == "iou" and empty == "skip"):
        ref = [_quiet(skm.jaccard_score if name == "iou" else skm.f1_score, y[n].ravel(), pred[n].ravel(),
                      zero_division=ZERO_DIVISION[empty]) for n in range(2)]
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("empty, value", [("skip", np.nan), ("zero", 0.0), ("one", 1.0)])
def test_empty_policy_for_rates(empty, value):
    pred, y = _canonical()
    # recall is undefined on both images (no foreground in the target)
    np.testing.assert_array_equal(segmath.recall(pred, y, num_classes=2, average="binary", aggregate="none",
                                                 empty=empty), [value, value])
    # precision: undefined when nothing is predicted; 0 with false positives only
    np.testing.assert_array_equal(segmath.precision(pred, y, num_classes=2, average="binary", aggregate="none",
                                                    empty=empty), [value, 0.0])
    # all-empty under "skip": the mean is NaN, not 0
    assert np.isnan(segmath.recall(pred, y, num_classes=2, average="binary", empty=empty)) == (empty == "skip")


def test_mcc_and_kappa_undefined_cases_follow_policy():
    pred, y = _canonical()
    for empty, value in [("skip", np.nan), ("zero", 0.0), ("one", 1.0)]:
        # image 0: prediction and target the same single class -> both undefined
        np.testing.assert_array_equal(segmath.mcc(pred, y, num_classes=2, aggregate="none", empty=empty)[0], value)
        np.testing.assert_array_equal(segmath.cohen_kappa(pred, y, num_classes=2, aggregate="none",
                                                          empty=empty)[0], value)
    # image 1: constant target, non-constant prediction: MCC undefined, kappa = 0 (scikit-learn agrees)
    assert np.isnan(segmath.mcc(pred, y, num_classes=2, aggregate="none")[1])
    assert segmath.cohen_kappa(pred, y, num_classes=2, aggregate="none")[1] == \
        skm.cohen_kappa_score(y[1].ravel(), pred[1].ravel())
    assert skm.matthews_corrcoef(y[1].ravel(), pred[1].ravel()) == segmath.mcc(pred, y, num_classes=2,
                                                                              aggregate="none", empty="zero")[1]


# ---- volume difference --------------------------------------------------------------

@pytest.mark.parametrize("signed", [False, True])
def test_volume_difference_brute_force(signed):
    x, y = make_case(18, n=3, spatial=(3, 4, 5), ignore_index=255)
    pred = x.argmax(1)
    keep = y != 255
    vol_p = np.array([[np.sum((pred[n] == c) & keep[n]) for c in range(C)] for n in range(3)], float)
    vol_t = np.array([[np.sum(y[n] == c) for c in range(C)] for n in range(3)], float)
    diff = vol_p - vol_t if signed else np.abs(vol_p - vol_t)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(vol_t > 0, diff / vol_t, np.nan)
    got = segmath.volume_difference(x, y, ignore_index=255, signed=signed, average="none", aggregate="none")
    np.testing.assert_allclose(got, rel, rtol=1e-12)
    got = segmath.volume_difference(x, y, ignore_index=255, signed=signed, relative=False, spacing=(0.5, 2, 3),
                                    average="none", aggregate="none")
    np.testing.assert_allclose(got, diff * 3.0, rtol=1e-12)
    dataset = segmath.volume_difference(x, y, ignore_index=255, signed=signed, average="none", aggregate="dataset")
    d = vol_p.sum(0) - vol_t.sum(0)
    np.testing.assert_allclose(dataset, (d if signed else np.abs(d)) / vol_t.sum(0), rtol=1e-12)


def test_volume_difference_ignores_placement():
    y = np.zeros((1, 6, 6), dtype=np.int64)
    y[0, :2, :2] = 1
    shifted = np.roll(y, 3, axis=2)
    assert float(segmath.volume_difference(shifted, y, num_classes=2)) == 0.0
    assert float(segmath.dice_score(shifted, y, num_classes=2, average="binary")) == 0.0
