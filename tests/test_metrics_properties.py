"""Hypothesis properties of the count metrics: ranges, the Dice-Jaccard bijection, symmetries."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import segmath


@st.composite
def label_pairs(draw):
    """Hard predictions and targets (N, H, W) with C classes; tiny images make empty classes common."""
    c = draw(st.integers(2, 4))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    labels = arrays(np.int64, shape, elements=st.integers(0, c - 1))
    return draw(labels), draw(labels), c


SETTINGS = settings(max_examples=60, deadline=None)


def _finite(v):
    v = np.asarray(v, dtype=float)
    return v[~np.isnan(v)]


@SETTINGS
@given(label_pairs(), st.sampled_from(["skip", "zero", "one"]))
def test_ranges(case, empty):
    pred, y, c = case
    kw = dict(num_classes=c, empty=empty, aggregate="none")
    for fn in (segmath.iou, segmath.dice_score, segmath.precision, segmath.recall, segmath.specificity):
        v = _finite(fn(pred, y, average="none", **kw))
        assert np.all((v >= 0) & (v <= 1))
    for fn in (segmath.pixel_accuracy, segmath.mean_accuracy, segmath.balanced_accuracy, segmath.fw_iou,
               segmath.mean_iou):
        v = _finite(fn(pred, y, **kw))
        assert np.all((v >= 0) & (v <= 1 + 1e-15))
    v = _finite(segmath.mcc(pred, y, **kw))
    assert np.all((v >= -1 - 1e-12) & (v <= 1 + 1e-12))
    v = _finite(segmath.cohen_kappa(pred, y, **kw))
    assert np.all((v >= -1 - 1e-12) & (v <= 1 + 1e-12))
    assert np.all(_finite(segmath.volume_difference(pred, y, average="none", **kw)) >= 0)


@SETTINGS
@given(label_pairs())
def test_dice_jaccard_bijection_per_image_and_class(case):
    pred, y, c = case
    j = segmath.iou(pred, y, num_classes=c, aggregate="none")
    d = segmath.dice_score(pred, y, num_classes=c, average="none", aggregate="none")
    np.testing.assert_array_equal(np.isnan(j), np.isnan(d))          # undefined in the same places
    np.testing.assert_allclose(d, 2 * j / (1 + j), rtol=1e-12)
    assert np.all(_finite(d) >= _finite(j))


@SETTINGS
@given(label_pairs())
def test_symmetries(case):
    pred, y, c = case
    kw = dict(num_classes=c, aggregate="none")
    for fn in (segmath.iou, segmath.dice_score):                       # symmetric in (prediction, target)
        np.testing.assert_array_equal(fn(pred, y, average="none", **kw), fn(y, pred, average="none", **kw))
    np.testing.assert_array_equal(segmath.precision(pred, y, average="none", **kw),
                                  segmath.recall(y, pred, average="none", **kw))
    np.testing.assert_allclose(segmath.mcc(pred, y, **kw), segmath.mcc(y, pred, **kw), rtol=1e-12)
    np.testing.assert_allclose(segmath.cohen_kappa(pred, y, **kw), segmath.cohen_kappa(y, pred, **kw), rtol=1e-12)
    np.testing.assert_array_equal(segmath.confusion_matrix(pred, y, num_classes=c, aggregate="none"),
                                  np.swapaxes(segmath.confusion_matrix(y, pred, num_classes=c, aggregate="none"), 1, 2))


@SETTINGS
@given(label_pairs())
def test_micro_averages_equal_pixel_accuracy(case):
    pred, y, c = case
    acc = segmath.pixel_accuracy(pred, y, num_classes=c, aggregate="none")
    for fn in (segmath.precision, segmath.recall, segmath.dice_score):
        np.testing.assert_allclose(fn(pred, y, num_classes=c, average="micro", aggregate="none"), acc, rtol=1e-12)


@SETTINGS
@given(label_pairs())
def test_perfect_prediction(case):
    _, y, c = case
    assert np.all(_finite(segmath.iou(y, y, num_classes=c, aggregate="none")) == 1)
    np.testing.assert_allclose(_finite(segmath.mcc(y, y, num_classes=c, aggregate="none")), 1.0, rtol=1e-12)
    assert np.all(segmath.volume_difference(y, y, num_classes=c, average="none", aggregate="none", empty="zero") == 0)
