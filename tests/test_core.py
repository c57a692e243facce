"""The core layer: primitives (both backends vs NumPy/SciPy brute force), the pair, the soft statistics."""
import numpy as np
import pytest
import scipy.special
import torch

import segmath
from segmath import primitives as P
from segmath.inputs import make_pair
from segmath.stats import soft_stats
from conftest import to_torch

BACKENDS = [np.asarray, lambda a: torch.from_numpy(np.array(a))]


@pytest.mark.parametrize("backend", BACKENDS, ids=["numpy", "torch"])
def test_activations_match_scipy(backend, rng):
    x = rng.standard_normal((2, 4, 5)) * 30
    np.testing.assert_allclose(P.to_numpy(P.softmax(backend(x), 1)), scipy.special.softmax(x, 1), rtol=1e-12)
    np.testing.assert_allclose(P.to_numpy(P.log_softmax(backend(x), 1)), scipy.special.log_softmax(x, 1),
                               rtol=1e-12)
    np.testing.assert_allclose(P.to_numpy(P.log_sigmoid(backend(x))), scipy.special.log_expit(x),
                               rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(P.to_numpy(P.softplus(backend(x))), np.log1p(np.exp(x)), rtol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS, ids=["numpy", "torch"])
def test_log_sigmoid_is_finite_far_out(backend):
    x = backend(np.array([-1e4, -50.0, 0.0, 50.0, 1e4]))
    out = P.to_numpy(P.log_sigmoid(x))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[[0, 2, 4]], [-1e4, -np.log(2), 0.0], atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS, ids=["numpy", "torch"])
def test_gather_and_class_sums_match_loops(backend, rng):
    n, c, s = 3, 4, 50
    x = rng.random((n, c, s))
    lab = rng.integers(0, c, (n, s))
    g = P.to_numpy(P.gather_class(backend(x), backend(lab)))
    sums = P.to_numpy(P.class_sums(backend(g), backend(lab), c))
    for i in range(n):
        for k in range(s):
            assert g[i, k] == x[i, lab[i, k], k]
        for j in range(c):
            assert sums[i, j] == pytest.approx(sum(g[i, k] for k in range(s) if lab[i, k] == j))


@pytest.mark.parametrize("backend", BACKENDS, ids=["numpy", "torch"])
def test_one_hot_and_sort(backend, rng):
    lab = rng.integers(0, 3, (2, 4, 5))
    oh = P.to_numpy(P.one_hot(backend(lab), 3, backend(np.zeros(1)).dtype))
    np.testing.assert_array_equal(oh, np.moveaxis(np.eye(3)[lab], -1, 1))
    v = rng.random((3, 7))
    values, index = P.sort_desc(backend(v))
    np.testing.assert_array_equal(P.to_numpy(values), -np.sort(-v, axis=-1))
    np.testing.assert_array_equal(np.take_along_axis(v, P.to_numpy(index), -1), P.to_numpy(values))


def test_soft_stats_label_path_equals_dense_path(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    y = rng.integers(0, 3, (2, 4, 5))
    onehot = np.moveaxis(np.eye(3)[y], -1, 1)
    for agg in ("image", "batch"):
        a = soft_stats(make_pair(x, y), agg, squares=True, l1=True)
        b = soft_stats(make_pair(x, onehot), agg, squares=True, l1=True)
        for name in ("tp", "sp", "sy", "n", "sp2", "sy2", "l1", "fp", "fn", "tn"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, err_msg=name)


def test_soft_stats_brute_force_with_ignore(rng):
    x = rng.standard_normal((2, 3, 6))
    y = rng.integers(0, 3, (2, 6))
    y[0, 1] = y[1, 4] = 255
    st = soft_stats(make_pair(x, y, ignore_index=255))
    p = scipy.special.softmax(x, 1)
    for n in range(2):
        keep = y[n] != 255
        for c in range(3):
            assert st.tp[n, c] == pytest.approx(np.sum(p[n, c, keep] * (y[n, keep] == c)))
            assert st.sp[n, c] == pytest.approx(np.sum(p[n, c, keep]))
            assert st.sy[n, c] == pytest.approx(np.sum(y[n, keep] == c))
            assert st.tn[n, c] == pytest.approx(np.sum((1 - p[n, c, keep]) * (y[n, keep] != c)))


def test_pair_errors_name_the_argument():
    x = np.zeros((2, 1, 3, 3))
    with pytest.raises(ValueError, match="single channel"):
        make_pair(x, np.zeros((2, 3, 3), int), activation="softmax")
    with pytest.raises(ValueError, match="ignore_index"):
        make_pair(np.zeros((2, 3, 3, 3)), np.zeros((2, 3, 3, 3)), ignore_index=0)
    with pytest.raises(ValueError, match="multi-label"):
        make_pair(np.zeros((2, 3, 3, 3)), np.zeros((2, 3, 3), int), activation="sigmoid")
    with pytest.raises(TypeError, match="target"):
        make_pair(np.zeros((2, 3, 3, 3)), np.zeros((2, 3, 3)))
    with pytest.raises(TypeError, match="both"):
        make_pair(np.zeros((2, 3, 3, 3)), torch.zeros((2, 3, 3), dtype=torch.long))
    with pytest.raises(ValueError, match="activation"):
        make_pair(np.zeros((2, 3, 3, 3)), np.zeros((2, 3, 3), int), activation="relu")
    with pytest.raises(TypeError, match="from_logits"):
        make_pair(np.zeros((2, 3, 3, 3)), np.zeros((2, 3, 3), int), from_logits="yes")
    with pytest.raises(ValueError, match="target"):
        make_pair(np.zeros((2, 3, 2)), np.full((2, 3, 2), 2.0))


def test_value_checks_can_be_switched_off():
    x = np.zeros((1, 2, 2, 2))
    y = np.full((1, 2, 2), 7)
    with pytest.raises(ValueError):
        segmath.cross_entropy(x, np.full((1, 2, 2), 7))
    with segmath.value_checks(False):
        make_pair(x, y)  # no data check: the caller vouches for the labels
    with pytest.raises(ValueError):
        make_pair(x, y)


def test_half_precision_is_promoted():
    x = torch.randn(2, 3, 4, 4, dtype=torch.float16)
    assert make_pair(x, torch.zeros(2, 4, 4, dtype=torch.long)).input.dtype == torch.float32


def test_binary_labels_become_dense_target():
    x = np.zeros((2, 1, 3))
    pair = make_pair(x, np.array([[0, 1, 1], [1, 0, 0]]))
    assert pair.labels is None and pair.dense.shape == (2, 1, 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        make_pair(x, np.array([[0, 2, 1], [1, 0, 0]]))


def test_catalogue_lookup_and_examples_are_seeded():
    e = segmath.get("dice")
    a1, _ = e.example(3)
    a2, _ = e.example(3)
    np.testing.assert_array_equal(a1[0], a2[0])
    with pytest.raises(KeyError, match="no catalogue entry"):
        segmath.get("not_a_loss")


def test_cross_entropy_matches_torch_with_weight_and_ignore(rng):
    x = rng.standard_normal((2, 4, 3, 5, 2))  # 3-D
    y = rng.integers(0, 4, (2, 3, 5, 2))
    y[0, 0, 0, 0] = -100
    w = [0.5, 1.0, 2.0, 0.1]
    ref = torch.nn.functional.cross_entropy(to_torch(x), to_torch(y), weight=torch.tensor(w, dtype=torch.float64),
                                            ignore_index=-100)
    assert float(segmath.cross_entropy(x, y, weight=w, ignore_index=-100)) == pytest.approx(float(ref), rel=1e-12)
    ref_none = torch.nn.functional.cross_entropy(to_torch(x), to_torch(y), ignore_index=-100, reduction="none")
    np.testing.assert_allclose(segmath.cross_entropy(x, y, ignore_index=-100, reduction="none"), ref_none.numpy(),
                               rtol=1e-12)
