"""Confusion matrix and input conventions of the metrics, against scikit-learn and brute force."""
import numpy as np
import pytest
import torch
from scipy.special import expit
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

import segmath
from conftest import to_torch
from oracles import make_case, per_image, pooled


@pytest.mark.parametrize("spatial", [(6, 7), (3, 4, 5)])
@pytest.mark.parametrize("ignore_index", [None, 255])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_confusion_matrix_matches_sklearn(spatial, ignore_index, backend):
    x, y = make_case(0, spatial=spatial, ignore_index=ignore_index)
    args = (x, y) if backend == "numpy" else to_torch((x, y))
    got = segmath.confusion_matrix(*args, ignore_index=ignore_index)
    yt, yp = pooled(x, y, ignore_index)
    np.testing.assert_array_equal(np.asarray(got), sk_confusion_matrix(yt, yp, labels=range(4)))
    per = segmath.confusion_matrix(*args, ignore_index=ignore_index, aggregate="none")
    for i, (ti, pi) in enumerate(per_image(x, y, ignore_index)):
        np.testing.assert_array_equal(np.asarray(per[i]), sk_confusion_matrix(ti, pi, labels=range(4)))


@pytest.mark.parametrize("normalize", ["true", "pred", "all"])
def test_confusion_matrix_normalize_matches_sklearn(normalize):
    x, y = make_case(1)
    got = segmath.confusion_matrix(x, y, normalize=normalize)
    yt, yp = pooled(x, y)
    np.testing.assert_allclose(got, sk_confusion_matrix(yt, yp, labels=range(4), normalize=normalize), atol=1e-15)


def test_hard_label_input_and_one_hot_target():
    x, y = make_case(2)
    pred = x.argmax(1)
    onehot = np.moveaxis(np.eye(4, dtype=np.int64)[y], -1, 1)
    ref = sk_confusion_matrix(y.ravel(), pred.ravel(), labels=range(4))
    np.testing.assert_array_equal(segmath.confusion_matrix(pred, y, num_classes=4), ref)
    np.testing.assert_array_equal(segmath.confusion_matrix(pred, onehot, num_classes=4), ref)
    np.testing.assert_array_equal(segmath.confusion_matrix(x, onehot.astype(float)), ref)
    np.testing.assert_array_equal(segmath.confusion_matrix(pred.astype(np.int32), y.astype(np.uint8), num_classes=4),
                                  ref)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.8, 1.0])
def test_binary_one_channel_thresholds_the_probability(from_logits, threshold):
    rng = np.random.default_rng(3)
    logits = 3 * rng.standard_normal((2, 1, 8, 9))
    y = (rng.random((2, 8, 9)) < 0.4).astype(np.int64)
    p = expit(logits)
    got = segmath.confusion_matrix(logits if from_logits else p, y, from_logits=from_logits, threshold=threshold)
    pred = (p[:, 0] > threshold).astype(int)          # brute force: the probability against the threshold
    np.testing.assert_array_equal(got, sk_confusion_matrix(y.ravel(), pred.ravel(), labels=[0, 1]))
    # the per-class (N, 1, *spatial) target gives the same
    got2 = segmath.confusion_matrix(logits if from_logits else p, y[:, None].astype(float), from_logits=from_logits,
                                    threshold=threshold)
    np.testing.assert_array_equal(got, got2)


def test_binary_threshold_is_exact_where_float32_sigmoid_saturates():
    # sigmoid(18) rounds to 1.0 in float32, yet 18 < logit(1 - 1e-8) = 18.42: not positive
    x = torch.tensor([[[[18.0, 19.0]]]], dtype=torch.float32)
    y = torch.tensor([[[1, 1]]])
    cm = segmath.confusion_matrix(x, y, threshold=1 - 1e-8)
    assert cm.tolist() == [[0, 0], [1, 1]]


def test_dataset_matrix_is_sum_of_image_matrices_brute_force():
    x, y = make_case(4, n=5, spatial=(4, 3, 5), ignore_index=-1)
    per = segmath.confusion_matrix(x, y, ignore_index=-1, aggregate="none")
    pred = x.argmax(1)
    brute = np.zeros((5, 4, 4), dtype=np.int64)
    for n, t, p in zip(np.indices(y.shape)[0].ravel(), y.ravel(), pred.ravel()):
        if t != -1:
            brute[n, t, p] += 1
    np.testing.assert_array_equal(per, brute)
    np.testing.assert_array_equal(segmath.confusion_matrix(x, y, ignore_index=-1), brute.sum(0))


def test_counts_are_int64_and_exact():
    y = torch.zeros((1, 300, 300), dtype=torch.int64)
    y[0, :100] = 1
    x = torch.zeros((1, 2, 300, 300), dtype=torch.float16)
    x[:, 1, :150] = 1.0                                  # rows < 150 predicted 1, the rest 0
    cm = segmath.confusion_matrix(x, y)
    assert cm.dtype == torch.int64
    assert cm.tolist() == [[150 * 300, 50 * 300], [0, 100 * 300]]


# ---- bad input ----------------------------------------------------------------

def _raises(exc, name, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert name in str(info.value), str(info.value)


def test_bad_input_is_rejected_with_the_argument_named():
    x, y = make_case(5)
    pred = x.argmax(1)
    _raises(ValueError, "num_classes", segmath.iou, pred, y)                       # labels need num_classes
    _raises(ValueError, "num_classes", segmath.iou, x, y, num_classes=3)           # disagrees with C
    _raises(ValueError, "num_classes", segmath.iou, pred, y, num_classes=1)
    _raises(ValueError, "target", segmath.iou, pred, y[:, :-1], num_classes=4)    # shape
    _raises(ValueError, "input", segmath.iou, pred + 4, y, num_classes=4)         # predicted label out of range
    _raises(ValueError, "target", segmath.iou, pred, y + 4, num_classes=4)
    _raises(TypeError, "target", segmath.iou, pred, y.astype(float), num_classes=4)
    _raises(TypeError, "input", segmath.iou, pred, to_torch(y), num_classes=4)    # mixed kinds
    _raises(ValueError, "threshold", segmath.iou, x, y, threshold=1.5)
    _raises(ValueError, "average", segmath.iou, x, y, average="samples")
    _raises(ValueError, "aggregate", segmath.iou, x, y, aggregate="batch")
    _raises(ValueError, "empty", segmath.iou, x, y, empty="nan")
    _raises(ValueError, "binary", segmath.iou, x, y, average="binary")           # four classes
    _raises(ValueError, "aggregate", segmath.confusion_matrix, x, y, aggregate="image")
    _raises(ValueError, "normalize", segmath.confusion_matrix, x, y, normalize="rows")
    multi_hot = np.ones_like(x)
    _raises(ValueError, "target", segmath.iou, x, multi_hot)                       # not one-hot
    _raises(ValueError, "input", segmath.iou, pred[0, 0], y[0, 0], num_classes=4)  # no spatial axis


def test_same_values_with_value_checks_off():
    x, y = make_case(7, ignore_index=255)
    xt, yt = to_torch((x, y))
    ref = [segmath.mean_iou(xt, yt, ignore_index=255), segmath.mcc(xt, yt, ignore_index=255),
           segmath.expected_calibration_error(xt, yt, ignore_index=255)]
    with segmath.value_checks(False):
        got = [segmath.mean_iou(xt, yt, ignore_index=255), segmath.mcc(xt, yt, ignore_index=255),
               segmath.expected_calibration_error(xt, yt, ignore_index=255)]
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b)
