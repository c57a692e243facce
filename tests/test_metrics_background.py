"""include_background=False: class 0 left out before averaging, against scikit-learn's labels= and MONAI."""
import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score

import segmath
from segmath.metrics import ConfusionState

FOREGROUND = [1, 2, 3]


def case(seed=0, n=3, c=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, (n, 9, 7))
    p = np.where(rng.random(y.shape) < 0.6, y, rng.integers(0, c, y.shape))
    return p, y


SKLEARN = {"dice_score": f1_score, "iou": jaccard_score, "precision": precision_score, "recall": recall_score}


@pytest.mark.parametrize("name", sorted(SKLEARN))
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_dataset_values_equal_scikit_learn_with_foreground_labels(name, average):
    p, y = case()
    got = getattr(segmath, name)(p, y, num_classes=4, average=average, aggregate="dataset",
                                 include_background=False)
    ref = SKLEARN[name](y.ravel(), p.ravel(), labels=FOREGROUND, average=average, zero_division=0)   # every class is present
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-12)


def test_per_image_dice_equals_monai_without_background():
    from oracles import monai_metrics
    p, y = case(seed=1)
    onehot = lambda a: torch.nn.functional.one_hot(torch.as_tensor(a), 4).movedim(-1, 1).double()  # noqa: E731
    ref = monai_metrics.DiceMetric(include_background=False, reduction="none")(onehot(p), onehot(y))
    got = segmath.dice_score(p, y, num_classes=4, average="none", aggregate="none", include_background=False)
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12)


def brute_one_vs_rest(p, y, c):
    """Per image and foreground class: tp, fp, fn, tn by counting pixels."""
    out = []
    for pi, yi in zip(p, y):
        out.append([[int(np.sum((pi == k) & (yi == k))), int(np.sum((pi == k) & (yi != k))),
                     int(np.sum((pi != k) & (yi == k))), int(np.sum((pi != k) & (yi != k)))] for k in range(1, c)])
    return np.array(out, float)          # (N, C - 1, 4)


def test_one_vs_rest_metrics_average_the_foreground_classes():
    p, y = case(seed=2)
    t = brute_one_vs_rest(p, y, 4)
    tp, fp, fn, tn = np.moveaxis(t, -1, 0)
    youden = tp / (tp + fn) + tn / (tn + fp) - 1
    nb = tp / 63 - fp / 63 * (0.3 / 0.7)
    spec = tn / (tn + fp)
    mean_acc = (tp / (tp + fn)).mean(1)
    for got, ref in [
        (segmath.youden_index(p, y, num_classes=4, include_background=False, aggregate="none"), youden.mean(1)),
        (segmath.net_benefit(p, y, num_classes=4, include_background=False, aggregate="none",
                             threshold_probability=0.3), nb.mean(1)),
        (segmath.specificity(p, y, num_classes=4, include_background=False, aggregate="none"), spec.mean(1)),
        (segmath.mean_accuracy(p, y, num_classes=4, include_background=False, aggregate="none"), mean_acc),
        (segmath.mean_iou(p, y, num_classes=4, include_background=False, aggregate="none"),
         (tp / (tp + fp + fn)).mean(1)),
        (segmath.fw_iou(p, y, num_classes=4, include_background=False, aggregate="none"),
         ((tp + fn) * tp / (tp + fp + fn)).sum(1) / (tp + fn).sum(1)),
    ]:
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_torch_equals_numpy_and_the_state_takes_the_option():
    p, y = case(seed=3)
    scores = np.moveaxis(np.eye(4)[p], -1, 1)           # float64 scores: both backends compute in float64
    for name in ("dice_score", "iou", "mean_iou", "youden_index", "likelihood_ratio_positive"):
        fn = getattr(segmath, name)
        ref = fn(scores, y, include_background=False)
        got = fn(torch.as_tensor(scores), torch.as_tensor(y), include_background=False)
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, equal_nan=True)
        state = ConfusionState(4).update(scores[:1], y[:1]).update(scores[1:], y[1:])
        np.testing.assert_allclose(state.compute(name, include_background=False), ref, rtol=1e-12, equal_nan=True)
    assert np.asarray(segmath.iou(p, y, num_classes=4, include_background=False)).shape == (3,)


def test_bad_include_background_is_refused_by_name():
    p, y = case()
    with pytest.raises(TypeError, match="include_background"):
        segmath.dice_score(p, y, num_classes=4, include_background="no")
    with pytest.raises(ValueError, match="include_background.*binary"):
        segmath.dice_score(p, y, num_classes=4, include_background=False, average="binary")
