"""The fused region statistics (segmath.losses.fused) against the formula path and finite differences.

The formula path (autograd through softmax, gather and scatter-add; ``segmath.stats.formula_path``)
is the reference: values and gradients must agree to 1e-10 in float64, and ``gradcheck`` (central
finite differences) must accept the analytic backward, for every region loss and option that
takes the fused path.  The SymPy forms are checked against the same functions in test_symbolic.
"""
import pytest
import torch

import segmath
from segmath.losses import fused
from segmath.stats import formula_path

REGION = [("dice", {}), ("log_dice", {}), ("squared_dice", {}), ("log_cosh_dice", {}), ("jaccard", {}),
          ("log_jaccard", {}), ("tversky", {"alpha": 0.3, "beta": 0.7}), ("focal_tversky", {}),
          ("focal_tversky", {"exponent": 1.5}), ("generalized_dice", {}),
          ("generalized_dice", {"weight_type": "simple"}), ("mcc_loss", {})]
OPTIONS = [{}, {"ignore_index": -100}, {"aggregate": "batch"}, {"weight": [0.0, 1.0, 2.0, 0.5]},
           {"reduction": "none"}, {"reduction": "sum", "ignore_index": -100, "aggregate": "batch"}]


def _data(seed, n=3, c=4, shape=(5, 4)):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, c) + shape, dtype=torch.float64, generator=g)
    y = torch.randint(0, c, (n,) + shape, generator=g)
    y[0, 0] = -100            # a row of ignored pixels (a label only when ignore_index is set)
    y[1] = torch.where(y[1] == 2, torch.ones_like(y[1]), y[1])   # class 2 absent from one image
    return x, y


def _call(name, kw, x, y):
    kw = dict(kw)
    if "weight" in kw:
        kw["weight"] = torch.tensor(kw["weight"], dtype=x.dtype)
    if "ignore_index" not in kw:
        y = torch.where(y == -100, torch.zeros_like(y), y)
    return getattr(segmath, name)(x, y, **kw)


def _value_and_grad(name, kw, x, y):
    z = x.clone().requires_grad_(True)
    out = _call(name, kw, z, y)
    (g,) = torch.autograd.grad(out.sum(), z)
    return out.detach(), g


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("name, kw", REGION, ids=[f"{n}{'-' + '-'.join(map(str, k.values())) if k else ''}"
                                                  for n, k in REGION])
def test_fused_equals_formula_path(name, kw, opts):
    if name == "generalized_dice" and "weight" in opts:
        opts = {k: v for k, v in opts.items() if k != "weight"}
    x, y = _data(0)
    value, grad = _value_and_grad(name, {**kw, **opts}, x, y)
    with formula_path():
        ref_value, ref_grad = _value_and_grad(name, {**kw, **opts}, x, y)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name, kw", REGION, ids=[n for n, _ in REGION])
@pytest.mark.parametrize("opts", [{}, {"ignore_index": -100, "aggregate": "batch"}])
def test_fused_gradient_passes_gradcheck(name, kw, opts):
    x, y = _data(1, n=2, c=3, shape=(3, 3))
    y = torch.where(y == 3, torch.zeros_like(y), y)
    z = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: _call(name, {**kw, **opts}, t, y), (z,), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("squares", [False, True])
def test_statistics_and_their_gradient_against_brute_force(squares):
    """The raw tables: one-hot sums and the affine per-pixel gradient written out by hand."""
    x, y = _data(2)
    valid = y != -100
    labels = torch.where(valid, y, torch.zeros_like(y)).reshape(3, -1)
    v = valid.reshape(3, -1)
    z = x.reshape(3, 4, -1).clone().requires_grad_(True)
    out = fused.label_softmax_stats(z, labels, v, squares)
    p = torch.softmax(z.detach(), 1)
    onehot = torch.nn.functional.one_hot(labels, 4).movedim(-1, 1).double() * v[:, None]
    torch.testing.assert_close(out[0], (p * onehot).sum(2), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out[1], (p * v[:, None]).sum(2), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out[2], onehot.sum(2), rtol=0, atol=0)
    assert not out[2].requires_grad
    out = out[:2] + out[3:]
    gens = [torch.randn(3, 4, dtype=torch.float64) for _ in out]
    (dx,) = torch.autograd.grad(out, z, gens)
    dp = v[:, None] * (gens[1][:, :, None] + gens[0][:, :, None] * onehot.bool())
    if squares:
        torch.testing.assert_close(out[2], (p * p * v[:, None]).sum(2), rtol=1e-12, atol=1e-12)   # SP2
        dp = dp + v[:, None] * 2 * p * gens[2][:, :, None]
    jac = p * (dp - (p * dp).sum(1, keepdim=True))      # softmax Jacobian-vector product
    torch.testing.assert_close(dx, jac, rtol=1e-12, atol=1e-12)


def test_fallbacks_take_the_formula_path():
    """Probabilities, sigmoid and dense/soft targets never reach the fused function."""
    x, y = _data(3)
    y = torch.where(y == -100, torch.zeros_like(y), y)
    calls = []
    original = fused.label_softmax_stats
    fused.label_softmax_stats = lambda *a: calls.append(1) or original(*a)
    try:
        segmath.dice(torch.softmax(x, 1), y, from_logits=False)
        segmath.dice(x, torch.nn.functional.one_hot(y, 4).movedim(-1, 1).double())
        segmath.dice(x, torch.rand_like(x), activation="sigmoid")
        assert calls == []
        segmath.dice(x, y)
        assert calls == [1]
    finally:
        fused.label_softmax_stats = original


def test_nan_logit_reaches_loss_and_gradient():
    x, y = _data(4)
    y = torch.where(y == -100, torch.zeros_like(y), y)
    x[0, 1, 2, 2] = float("nan")
    with segmath.value_checks(False):
        value, grad = _value_and_grad("dice", {}, x, y)
    assert torch.isnan(value)
    assert torch.isnan(grad[0]).any()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dice", "squared_dice", "focal_tversky", "generalized_dice"])
def test_fused_backward_traces_whole(name):
    """The custom Function traces under torch.compile, forward and backward, and equals eager."""
    x, y = _data(5)
    y = torch.where(y == -100, torch.zeros_like(y), y)
    torch._dynamo.reset()

    def step(z):
        return torch.autograd.grad(getattr(segmath, name)(z, y), z)[0]

    with segmath.value_checks(False):
        z = x.clone().requires_grad_(True)
        eager = step(z)
        traced = torch.compile(lambda t: getattr(segmath, name)(t, y), backend="aot_eager", fullgraph=True)(z)
        (g,) = torch.autograd.grad(traced, z)
    torch.testing.assert_close(g, eager, rtol=1e-12, atol=1e-12)


# -- the fused cross-entropy (segmath.losses.fused.label_cross_entropy) --------------------------

CE_OPTIONS = [{}, {"ignore_index": -100}, {"weight": [0.5, 1.0, 2.0, 0.0]},
              {"weight": [0.5, 1.0, 2.0, 0.0], "ignore_index": -100}]


def _torch_ce(x, y, kw, reduction):
    """torch's own cross-entropy (the oracle; reduction='mean' there is sum / sum of weights)."""
    kw = dict(kw)
    if "weight" in kw:
        kw["weight"] = torch.tensor(kw["weight"], dtype=x.dtype)
    return torch.nn.functional.cross_entropy(x, y, reduction=reduction, **kw)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name,opts", [(n, o) for n in ("cross_entropy", "weighted_cross_entropy") for o in CE_OPTIONS
                                       if n == "cross_entropy" or "weight" in o],   # weighted CE needs its weight
                         ids=lambda v: v if isinstance(v, str) else ",".join(v) or "default")
def test_fused_cross_entropy_equals_torch(name, opts, reduction):
    x, y = _data(6)
    if "ignore_index" not in opts:
        y = torch.where(y == -100, torch.zeros_like(y), y)
    value, grad = _value_and_grad(name, {**opts, "reduction": reduction}, x, y)
    z = x.clone().requires_grad_(True)
    ref = _torch_ce(z, y, opts, reduction)
    (ref_grad,) = torch.autograd.grad(ref, z)
    torch.testing.assert_close(value, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("opts", CE_OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_fused_cross_entropy_passes_gradcheck(opts):
    x, y = _data(7, n=2, c=4, shape=(3, 3))
    if "ignore_index" not in opts:
        y = torch.where(y == -100, torch.zeros_like(y), y)
    z = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: _call("cross_entropy", opts, t, y), (z,), eps=1e-6, atol=1e-8)


def test_fused_cross_entropy_all_ignored_is_zero_with_zero_gradient():
    x, _ = _data(8)
    y = torch.full((3, 5, 4), -100)
    value, grad = _value_and_grad("cross_entropy", {"ignore_index": -100}, x, y)
    assert value.item() == 0.0
    assert torch.count_nonzero(grad).item() == 0


BAD_LABELS = [(4, {}), (-1, {}), (-(2 ** 63), {}), (9, {"ignore_index": -100}),
              (7, {"weight": [1.0, 1.0, 2.0, 0.5]}), (-3, {"weight": [1.0, 1.0, 2.0, 0.5], "ignore_index": -100})]


@pytest.mark.parametrize("bad, opts", BAD_LABELS, ids=[f"{b}-{','.join(o) or 'default'}" for b, o in BAD_LABELS])
@pytest.mark.parametrize("name", ["cross_entropy", "weighted_cross_entropy", "dice", "squared_dice", "jaccard"])
def test_label_range_check_rides_on_the_kernels(name, bad, opts):
    """With value checks on, a CPU call skips the separate min/max pass over the labels: the
    indexing kernels' bounds check raises, and it must come out as the ValueError naming target,
    for one bad label among good ones (the -2^63 sentinel included)."""
    if name == "weighted_cross_entropy" and "weight" not in opts:
        opts = {**opts, "weight": [1.0, 1.0, 1.0, 1.0]}
    if name != "cross_entropy" and name != "weighted_cross_entropy" and "weight" in opts:
        opts = {k: v for k, v in opts.items() if k != "weight"}
    x, y = _data(9)
    y = torch.where(y == -100, torch.zeros_like(y), y)
    y[2, 3, 1] = bad
    with pytest.raises(ValueError, match="target must hold class labels"):
        _call(name, opts, x, y)


@pytest.mark.parametrize("value", [float("-inf"), float("inf"), float("nan")])
@pytest.mark.parametrize("name", ["cross_entropy", "dice"])
def test_finite_check_catches_every_nonfinite_logit(name, value):
    """The one-sum finiteness probe of the logits: -inf (which a softmax would hide as p = 0) too."""
    x, y = _data(10)
    y = torch.where(y == -100, torch.zeros_like(y), y)
    x[1, 2, 0, 3] = value
    with pytest.raises(ValueError, match="input must be finite"):
        _call(name, {}, x, y)


def test_finite_check_has_no_false_alarm_when_the_sum_overflows():
    """Huge finite float32 logits overflow the probe's sum; the exact min/max behind it clears them."""
    x, y = _data(11)
    y = torch.where(y == -100, torch.zeros_like(y), y)
    x = torch.full_like(x, 3e38, dtype=torch.float32)
    assert not torch.isfinite(x.sum())
    assert torch.isfinite(segmath.cross_entropy(x, y))
