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


# -- the input layer: one sync, shared label checks, non-finite scores ---------------------------

class _Flag:
    """A stand-in for a 0-d device bool that counts how often it is read back to the host."""
    reads = 0

    def __init__(self, value):
        self.value = value

    def __or__(self, other):
        return _Flag(self.value or other.value)

    def __bool__(self):
        _Flag.reads += 1
        return self.value


def test_data_checks_read_back_once_and_raise_the_first_failure():
    from segmath.validation import DataChecks
    _Flag.reads = 0
    checks = DataChecks()
    for _ in range(4):
        checks.require(_Flag(False), lambda: ValueError("never"))
    checks.resolve()
    assert _Flag.reads == 1
    checks.require(_Flag(False), lambda: ValueError("first"))
    checks.require(_Flag(True), lambda: ValueError("second"))
    checks.require(_Flag(True), lambda: ValueError("third"))
    with pytest.raises(ValueError, match="second"):
        checks.resolve()


@pytest.mark.parametrize("backend", BACKENDS, ids=["numpy", "torch"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_scores_are_refused_naming_input(backend, bad):
    from segmath.inputs import hard_labels
    x = np.zeros((2, 3, 4, 4))
    x[1, 2, 3, 0] = bad
    y = np.zeros((2, 4, 4), dtype=np.int64)
    p = np.where(np.isfinite(x), 0.5, x)
    for call in (lambda: make_pair(backend(x), backend(y)),
                 lambda: make_pair(backend(p), backend(y), from_logits=False),
                 lambda: hard_labels(backend(x), backend(y))):
        with pytest.raises(ValueError, match="input must be finite"):
            call()


@pytest.mark.parametrize("backend", BACKENDS, ids=["numpy", "torch"])
def test_all_nan_scores_give_a_nan_guard_with_checks_off(backend):
    from segmath.inputs import hard_labels
    x = np.full((1, 3, 2, 2), np.nan)
    y = np.zeros((1, 2, 2), dtype=np.int64)
    with segmath.value_checks(False):
        hard = hard_labels(backend(x), backend(y))
    assert np.isnan(float(hard.nan_guard()))
    finite = hard_labels(backend(np.zeros_like(x)), backend(y))
    assert float(finite.nan_guard()) == 0.0
    labels = hard_labels(backend(y), backend(y), num_classes=3)
    assert float(labels.nan_guard()) == 0.0


def test_label_checks_are_shared_by_pairs_and_hard_labels():
    from segmath.inputs import hard_labels
    x = np.zeros((1, 2, 2, 2))
    for call in (lambda t: make_pair(x, t), lambda t: hard_labels(x, t)):
        with pytest.raises(TypeError, match="holds class labels and must have an integer dtype"):
            call(np.zeros((1, 2, 2)))
        with pytest.raises(ValueError, match=r"class labels in \[0, 1\]"):
            call(np.full((1, 2, 2), 5))
    with pytest.raises(ValueError, match="hard 0/1"):
        hard_labels(np.zeros((1, 2, 2), dtype=np.int64), np.full((1, 2, 2, 2), 0.5), num_classes=2)
    with pytest.raises(ValueError, match="ignore_index applies to integer label targets"):
        hard_labels(np.zeros((1, 2, 2), dtype=np.int64), np.ones((1, 2, 2, 2)), num_classes=2, ignore_index=0)


# -- the per-pixel NLL against torch's own losses --------------------------------------------------

def test_pair_nll_matches_torch_in_every_branch(rng):
    import torch.nn.functional as F
    x = rng.standard_normal((2, 3, 4, 5)) * 3
    labels = rng.integers(0, 3, (2, 4, 5))
    soft = scipy.special.softmax(rng.standard_normal((2, 3, 4, 5)), axis=1)
    w = np.array([0.5, 1.0, 2.0])
    tx = torch.from_numpy(x)
    # softmax, labels: gather; with class weights
    got = make_pair(x, labels).nll(w[None, :, None])
    ref = F.cross_entropy(tx, torch.from_numpy(labels), weight=torch.from_numpy(w), reduction="none")
    np.testing.assert_allclose(got.reshape(2, 4, 5), ref.numpy(), rtol=1e-12)
    # softmax, soft targets, from probabilities
    p = scipy.special.softmax(x, axis=1)
    got = make_pair(p, soft, from_logits=False).nll()
    ref = -(soft * np.log(p)).sum(axis=1)
    np.testing.assert_allclose(got.reshape(2, 4, 5), ref, rtol=1e-12)
    # sigmoid, multi-label, positive and negative weights
    y = rng.uniform(0, 1, x.shape)
    pos, neg = np.array([1.0, 2.0, 3.0])[None, :, None], np.array([0.5, 1.0, 0.0])[None, :, None]
    pair = make_pair(x, y, activation="sigmoid")
    terms = pair.nll_terms(pos, neg)
    s = scipy.special.expit(x).reshape(2, 3, -1)
    ref = -(pos * y.reshape(2, 3, -1) * np.log(s) + neg * (1 - y.reshape(2, 3, -1)) * np.log1p(-s))
    np.testing.assert_allclose(terms, ref, rtol=1e-10)
    rho = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)[:, None, None]
    ref = F.binary_cross_entropy_with_logits(tx, torch.from_numpy(y), pos_weight=rho, reduction="none")
    np.testing.assert_allclose(pair.nll_terms(pos), ref.numpy().reshape(2, 3, -1), rtol=1e-12)
    np.testing.assert_allclose(pair.target_weight(pos, neg), (pos * y.reshape(2, 3, -1)
                                                              + neg * (1 - y.reshape(2, 3, -1))).sum(1))


# -- the three reducers against loops ------------------------------------------------------------

def test_pixel_reduce_norm_and_per_image_match_loops(rng):
    from segmath.reduce import pixel_reduce
    loss, norm = rng.uniform(0, 2, (3, 7)), rng.uniform(0, 1, (3, 7))
    valid = rng.random((3, 7)) < 0.7
    valid[2] = False                      # an image with nothing counted scores 0
    got = pixel_reduce(np, loss, "mean", valid=valid, norm=norm, per_image=True)
    rows = [(loss[i][valid[i]].sum() / norm[i][valid[i]].sum()) if valid[i].any() else 0.0 for i in range(3)]
    assert got == pytest.approx(np.mean(rows), rel=1e-12)
    got = pixel_reduce(np, loss, "mean", valid=valid, norm=norm)
    assert got == pytest.approx(loss[valid].sum() / norm[valid].sum(), rel=1e-12)
    assert pixel_reduce(np, loss, "mean") == pytest.approx(loss.mean(), rel=1e-12)
    assert pixel_reduce(np, loss, "sum", valid=valid) == pytest.approx(loss[valid].sum(), rel=1e-12)


def test_class_reduce_counted_matches_loops(rng):
    from segmath.reduce import class_reduce
    table = rng.uniform(0, 1, (4, 3))
    counted = rng.random((4, 3)) < 0.6
    counted[1] = False
    w = np.array([1.0, 0.0, 2.0])
    rows = []
    for i in range(4):
        ws = w * counted[i]
        if ws.sum() > 0:
            rows.append((ws * table[i]).sum() / ws.sum())
    got = class_reduce(np, table, "mean", w, counted=counted)
    assert got == pytest.approx(sum(rows) / len(rows), rel=1e-12)
    np.testing.assert_array_equal(class_reduce(np, table, "none", counted=counted), table * counted)
    assert class_reduce(np, table, "mean", w) == pytest.approx(np.mean((table * w).sum(1) / w.sum()), rel=1e-12)


def test_reducers_let_nan_through():
    from segmath.numerics import safe_divide
    from segmath.reduce import class_reduce, pixel_reduce
    loss = np.array([[np.nan, 1.0], [0.0, 0.0]])
    assert np.isnan(pixel_reduce(np, loss, "mean", norm=np.zeros((2, 2)), per_image=True))
    assert np.isnan(class_reduce(np, loss, "mean", counted=np.ones((2, 2), bool)))
    assert np.isnan(safe_divide(np, np.array(np.nan), np.array(0.0)))
    assert safe_divide(np, np.array(3.0), np.array(0.0), zero=-1.0) == -1.0


# -- shared argument documentation and the public namespace ----------------------------------------

def test_arg_docs_fill_in_signature_order_and_keep_explicit_entries():
    from segmath.docs import ArgDocs
    docs = ArgDocs(a="table a.", c="table c.", z="never used.")

    @docs.fill
    def f(a, b, *, c=1, d=2):
        """Doc.

        Args:
            {args}
            d: explicit d,
                continued.
            a: explicit a.

        Returns:
            nothing.
        """
    body = f.__doc__.split("Args:\n")[1].split("\n\n")[0].split("\n")
    assert [line.strip() for line in body] == ["a: explicit a.", "c: table c.", "d: explicit d,", "continued."]
    assert "Returns:" in f.__doc__ and "{args}" not in f.__doc__
    with pytest.raises(ValueError, match="slot"):
        docs.fill(lambda a: a)


def test_public_namespace_is_explicit_and_complete():
    import importlib
    for pkg in ("segmath.losses", "segmath.distance", "segmath.metrics"):
        package = importlib.import_module(pkg)
        modules = {getattr(package, n).__module__ for n in package.__all__ if n != "ConfusionState"}
        declared = {n for m in modules for n in importlib.import_module(m).__all__}
        assert declared <= set(package.__all__), f"{pkg}.__all__ misses {declared - set(package.__all__)}"
        assert all(hasattr(package, n) for n in package.__all__)
        assert set(package.__all__) <= set(segmath.__all__)
    assert all(hasattr(segmath, n) for n in segmath.__all__)
    assert len(segmath.__all__) == len(set(segmath.__all__))
    missing = [e.id for e in segmath.catalogue() if getattr(segmath, e.id, None) is not e.fn]
    assert not missing, f"catalogue entries not exported as segmath.<id>: {missing}"


def test_every_data_check_of_a_call_is_one_host_read(monkeypatch):
    """Counted on CPU through ``Tensor.__bool__`` (a CUDA sync is exactly such a read)."""
    from segmath.inputs import hard_labels
    reads = []
    original = torch.Tensor.__bool__
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda t: reads.append(1) or original(t))
    p = torch.full((2, 3, 4, 4), 1 / 3, dtype=torch.float64)
    y = torch.zeros((2, 4, 4), dtype=torch.long)
    onehot = torch.nn.functional.one_hot(y, 3).permute(0, 3, 1, 2).double()
    for call in (lambda: make_pair(p, y, from_logits=False, ignore_index=-1),   # probabilities + labels
                 lambda: make_pair(p, onehot, from_logits=False, soft_target=False),   # + hard per-class target
                 lambda: hard_labels(p, onehot),                                # + one-hot check
                 lambda: hard_labels(y, y, num_classes=3)):                     # two label maps
        reads.clear()
        call()
        assert len(reads) == 1
    with segmath.value_checks(False):
        reads.clear()
        make_pair(p, y, from_logits=False)
        hard_labels(p, onehot)
        assert not reads
