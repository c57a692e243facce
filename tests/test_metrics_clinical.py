"""Youden's J, LR+, net benefit and expected cost against scikit-learn and textbook formulas, brute force."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, class_likelihood_ratios
from sklearn.metrics import confusion_matrix as sk_confusion

import segmath
from conftest import to_torch
from oracles import make_case

C = 4
FILL = {"skip": math.nan, "zero": 0.0, "one": 1.0}


def _labels(x, y, ignore_index=None):
    """Per image: (target, prediction) of the counted pixels, as flat integer arrays."""
    pred = np.argmax(x, axis=1)
    out = []
    for yi, pi in zip(y, pred):
        keep = np.ones(yi.shape, bool) if ignore_index is None else yi != ignore_index
        out.append((yi[keep], pi[keep]))
    return out


def _tables(t, p):
    """One-vs-rest (tp, fp, fn, tn) per class from scikit-learn's confusion matrix."""
    m = sk_confusion(t, p, labels=list(range(C))) if t.size else np.zeros((C, C), int)
    n = int(m.sum())
    rows = []
    for k in range(C):
        tp = int(m[k, k])
        fn, fp = int(m[k].sum()) - tp, int(m[:, k].sum()) - tp
        rows.append((tp, fp, fn, n - tp - fp - fn))
    return rows


def _youden(tp, fp, fn, tn, empty, **_):
    pos, neg = tp + fn, tn + fp
    return FILL[empty] if pos == 0 or neg == 0 else tp / pos + tn / neg - 1.0


def _lr(tp, fp, fn, tn, empty, **_):
    pos, neg = tp + fn, tn + fp
    if pos == 0 or neg == 0 or tp + fp == 0:
        return FILL[empty]
    return math.inf if fp == 0 else (tp / pos) / (fp / neg)


def _nb(tp, fp, fn, tn, empty, pt=0.5):
    n = tp + fp + fn + tn
    return FILL[empty] if n == 0 else tp / n - fp / n * pt / (1.0 - pt)


def _average(rows, fn, average, empty, **kw):
    """Textbook class averaging of the per-class values."""
    if average == "micro":
        return fn(*[sum(r[i] for r in rows) for i in range(4)], empty, **kw)
    values = np.array([fn(*r, empty, **kw) for r in rows])
    if average == "none":
        return values
    if average == "binary":
        return values[1]
    ok = ~np.isnan(values)
    if not ok.any():
        return math.nan
    if average == "macro":
        return float(np.mean(values[ok]))
    w = np.array([r[0] + r[2] for r in rows], float)[ok]
    return FILL[empty] if w.sum() == 0 else float(np.sum(values[ok] * w) / w.sum())


def _reference(x, y, fn, *, average, aggregate, empty, ignore_index=None, **kw):
    pairs = _labels(x, y, ignore_index)
    if aggregate == "dataset":
        pairs = [(np.concatenate([t for t, _ in pairs]), np.concatenate([p for _, p in pairs]))]
    per_item = [_average(_tables(t, p), fn, average, empty, **kw) for t, p in pairs]
    if aggregate == "dataset":
        return per_item[0]
    per_item = np.array(per_item, float)
    if aggregate == "none":
        return per_item
    ok = ~np.isnan(per_item)
    with np.errstate(invalid="ignore"):
        return np.where(ok.any(axis=0), np.nansum(np.where(ok, per_item, 0), axis=0) / ok.sum(axis=0), np.nan) \
            if per_item.ndim > 1 else (float(per_item[ok].mean()) if ok.any() else math.nan)


ORACLES = {"youden_index": (_youden, {}), "likelihood_ratio_positive": (_lr, {}),
           "net_benefit": (_nb, {"threshold_probability": 0.2})}


@pytest.mark.parametrize("name", sorted(ORACLES))
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", "none"])
@pytest.mark.parametrize("aggregate", ["image", "dataset", "none"])
@pytest.mark.parametrize("empty", ["skip", "zero", "one"])
def test_one_vs_rest_metrics_match_the_textbook_formulas(name, average, aggregate, empty):
    x, y = make_case(3, n=4, c=C, ignore_index=255)
    fn, options = ORACLES[name]
    kw = {"pt": options["threshold_probability"]} if options else {}
    ours = getattr(segmath, name)(x, y, ignore_index=255, average=average, aggregate=aggregate, empty=empty,
                                  **options)
    ref = _reference(x, y, fn, average=average, aggregate=aggregate, empty=empty, ignore_index=255, **kw)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-12, atol=1e-15)
    got = getattr(segmath, name)(*to_torch((x, y)), ignore_index=255, average=average, aggregate=aggregate,
                                 empty=empty, **options)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), np.asarray(ours), rtol=1e-10, atol=1e-15)


def _binary_case(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((1, 9, 11)) < 0.35).astype(np.int64)
    p = np.where(rng.random(y.shape) < 0.75, y, 1 - y)
    return p, y


@pytest.mark.parametrize("seed", range(5))
def test_binary_values_match_scikit_learn(seed):
    p, y = _binary_case(seed)
    t, q = y.ravel(), p.ravel()
    j = segmath.youden_index(p, y, num_classes=2, average="binary")
    assert float(j) == pytest.approx(balanced_accuracy_score(t, q, adjusted=True), rel=1e-12, abs=1e-15)
    lr_plus = class_likelihood_ratios(t, q)[0]
    assert float(segmath.likelihood_ratio_positive(p, y, num_classes=2, average="binary")) == \
        pytest.approx(lr_plus, rel=1e-12)
    # binary J is symmetric in the classes: class 0's J is class 1's
    both = segmath.youden_index(p, y, num_classes=2, average="none")
    assert float(both[0]) == pytest.approx(float(both[1]), rel=1e-12)


def test_net_benefit_limits():
    y = np.array([[[0, 1, 1], [0, 0, 1]]])
    nb = segmath.net_benefit(y, y, num_classes=2, average="binary", threshold_probability=0.3)
    assert float(nb) == pytest.approx(3 / 6)                      # perfect: the prevalence
    nothing = np.zeros_like(y)
    assert float(segmath.net_benefit(nothing, y, num_classes=2, average="binary")) == 0.0
    everything = np.ones_like(y)                                   # "treat all": prevalence - (1 - prev) w
    w = 0.25 / 0.75
    assert float(segmath.net_benefit(everything, y, num_classes=2, average="binary", threshold_probability=0.25)) \
        == pytest.approx(3 / 6 - 3 / 6 * w, rel=1e-12)


def test_empty_policies_and_the_infinite_ratio():
    y = np.zeros((1, 2, 3), np.int64)                               # class 1 absent: P = 0
    p = np.array([[[0, 1, 0], [0, 0, 0]]])
    for empty, fill in FILL.items():
        j = segmath.youden_index(p, y, num_classes=2, average="none", empty=empty)
        np.testing.assert_equal(np.asarray(j), [fill, fill])      # class 0 fills the image: N = 0
    y = np.array([[[0, 1, 1], [0, 0, 1]]])
    p = np.array([[[0, 1, 0], [0, 0, 1]]])                          # class 1: TP = 2, FP = 0
    lr = segmath.likelihood_ratio_positive(p, y, num_classes=2, average="none", empty="zero")
    assert float(lr[1]) == math.inf
    assert float(lr[0]) == pytest.approx((3 / 3) / (1 / 3))
    none_predicted = np.zeros_like(y)                               # class 1: TP = FP = 0 -> 0/0
    lr = segmath.likelihood_ratio_positive(none_predicted, y, num_classes=2, average="none", empty="one")
    assert float(lr[1]) == 1.0


def _brute_cost(t, p, cost):
    return sum(cost[a, b] for a, b in zip(t, p)) / len(t)


def _brute_nec(t, p, cost):
    best = min(sum(cost[a, j] for a in t) / len(t) for j in range(C))
    return _brute_cost(t, p, cost) / best


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("aggregate", ["image", "dataset", "none"])
def test_expected_cost_brute_force(backend, normalize, aggregate):
    x, y = make_case(8, n=3, c=C, ignore_index=255)
    cost = np.random.default_rng(1).uniform(0.5, 3.0, (C, C))
    np.fill_diagonal(cost, 0.0)
    pairs = _labels(x, y, 255)
    if aggregate == "dataset":
        pairs = [(np.concatenate([t for t, _ in pairs]), np.concatenate([p for _, p in pairs]))]
    brute = _brute_nec if normalize else _brute_cost
    per_item = np.array([brute(t, p, cost) for t, p in pairs])
    ref = {"image": per_item.mean(), "dataset": per_item[0], "none": per_item}[aggregate]
    args = (x, y) if backend == "numpy" else to_torch((x, y))
    costs = cost if backend == "numpy" else torch.from_numpy(cost)
    ours = segmath.expected_cost(*args, ignore_index=255, costs=costs, normalize=normalize, aggregate=aggregate)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-10)


def test_expected_cost_defaults_to_the_error_rate_and_empty_images():
    x, y = make_case(9, n=3, c=C)
    err = 1.0 - np.asarray(segmath.pixel_accuracy(x, y, aggregate="none"))
    np.testing.assert_allclose(np.asarray(segmath.expected_cost(x, y, aggregate="none")), err, rtol=1e-12)
    ignored = np.full((1, 2, 2), 255)
    labels = np.zeros((1, 2, 2), np.int64)
    for empty, fill in FILL.items():
        v = segmath.expected_cost(labels, ignored, num_classes=C, ignore_index=255, empty=empty)
        np.testing.assert_equal(float(v), fill)
    # NEC undefined: one class present and a zero diagonal make the best constant prediction free
    v = segmath.expected_cost(labels, labels, num_classes=C, normalize=True, empty="zero")
    assert float(v) == 0.0


@pytest.mark.parametrize("call, match", [
    (lambda p, y: segmath.net_benefit(p, y, num_classes=2, threshold_probability=1.0), "threshold_probability"),
    (lambda p, y: segmath.net_benefit(p, y, num_classes=2, threshold_probability=0), "threshold_probability"),
    (lambda p, y: segmath.expected_cost(p, y, num_classes=2, costs=np.ones((3, 3))), "costs must have shape"),
    (lambda p, y: segmath.expected_cost(p, y, num_classes=2, costs=[[0, -1], [1, 0]]), "non-negative"),
    (lambda p, y: segmath.expected_cost(p, y, num_classes=2, costs=[[0, np.nan], [1, 0]]), "finite"),
    (lambda p, y: segmath.youden_index(p, y, num_classes=3, average="binary"), "two-class"),
    (lambda p, y: segmath.likelihood_ratio_positive(p, y, num_classes=2, average="mean"), "average"),
])
def test_bad_options_raise_value_errors(call, match):
    p, y = _binary_case(0)
    with pytest.raises(ValueError, match=match):
        call(p, y)


def test_bad_option_types_raise_type_errors():
    p, y = _binary_case(0)
    with pytest.raises(TypeError, match="threshold_probability"):
        segmath.net_benefit(p, y, num_classes=2, threshold_probability="0.2")
    with pytest.raises(TypeError, match="normalize"):
        segmath.expected_cost(p, y, num_classes=2, normalize=1)
    with pytest.raises(TypeError, match="costs"):
        segmath.expected_cost(p, y, num_classes=2, costs=object())
