"""segmath.symbolic: the SymPy forms of the catalogue entries against finite differences, torch/MONAI,
and the catalogue functions themselves (torch autograd, float64)."""
import inspect

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from segmath import symbolic as S
from segmath.symbolic.parse import compact, entry_form

NAMES = S.names()
AGGREGATES = [n for n in NAMES if compact(n).family == "aggregate"]
MULTICLASS = [n for n in NAMES if compact(n).family == "multiclass"]
CLASSED = ("softmax", "multiclass")        # input (1, C, n), targets per class


def _hard_classes(rng, n, classes=3):
    """One-hot targets of n pixels with every class present (a multi-class form assumes it)."""
    labels = np.concatenate([np.arange(classes), rng.integers(0, classes, n - classes)])
    return np.eye(classes)[rng.permutation(labels)]


def _fd(f, x, y, h=1e-6):
    """Central differences of sum f(x, y) (per-pixel) or f(x, y) (aggregate) along the last axis of x."""
    g = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (np.sum(f(x + e, y)) - np.sum(f(x - e, y))) / (2 * h)
    return g


def _point(rng, name, n=7, soft=True):
    fam = compact(name).family
    if fam == "multiclass":
        z = rng.normal(0, 1.5, (n, 3))
        return z, (rng.dirichlet(np.ones(3), n) if soft else _hard_classes(rng, n))
    shape = (3,) if fam == "softmax" else (n,)
    z = rng.normal(0, 1.5, shape)
    if fam == "softmax":
        y = rng.dirichlet(np.ones(3)) if soft else np.eye(3)[rng.integers(3)]
    else:
        y = rng.uniform(0, 1, shape) if soft else (rng.random(shape) < 0.4).astype(float)
        y[0] = 1.0 if not soft else y[0]
    return z, y


# ---- closed forms the book quotes -------------------------------------------------------------

def test_bce_gradient_is_sigmoid_minus_target():
    (g,) = S.gradient("binary_cross_entropy")
    z, y = sp.Symbol("z", real=True), sp.Symbol("y", real=True)
    assert sp.simplify(g - (S.sigmoid(z) - y)) == 0
    assert r"\sigma" in sp.latex(g)


def test_softmax_ce_gradient_is_softmax_minus_target():
    grads = S.gradient("cross_entropy", classes=3)
    expr, syms = S.loss_expr("cross_entropy", classes=3)
    z, y = syms.inputs, syms.targets
    soft = [sp.exp(zk) / sum(sp.exp(zj) for zj in z) for zk in z]
    for k, g in enumerate(grads):
        assert sp.simplify(g - (sum(y) * soft[k] - y[k])) == 0
    rng = np.random.default_rng(0)
    zz, yy = rng.normal(size=(5, 3)), rng.dirichlet(np.ones(3), 5)
    np.testing.assert_allclose(S.lambdify_gradient("cross_entropy")(zz, yy),
                               torch.softmax(torch.tensor(zz), -1).numpy() - yy, atol=1e-12)


def test_focal_gradient_matches_hand_derived_closed_form():
    # d/dz of -a y (1-q)^g log q - (1-a)(1-y) q^g log(1-q), q = sigmoid(z), derived by hand:
    # a y (1-q)^g (g q log q + q - 1) + (1-a)(1-y) q^g (q - g (1-q) log(1-q))
    rng = np.random.default_rng(1)
    z, y = rng.normal(0, 2, 50), rng.uniform(0, 1, 50)
    a, g = 0.3, 2.5
    q = 1 / (1 + np.exp(-z))
    hand = (a * y * (1 - q) ** g * (g * q * np.log(q) + q - 1)
            + (1 - a) * (1 - y) * q ** g * (q - g * (1 - q) * np.log1p(-q)))
    np.testing.assert_allclose(S.lambdify_gradient("focal:alpha", alpha=a, gamma=g)(z, y), hand, rtol=1e-10, atol=1e-13)


def test_dice_compact_gradient_is_textbook_formula():
    g = S.pixel_gradient("dice", smooth=0)
    expr, syms = S.loss_expr("dice", n=None, smooth=0)
    i, s_p, s_y = syms.stats["I"], syms.stats["S_p"], syms.stats["S_y"]
    y = syms.targets[0]
    total = s_p + s_y
    assert sp.simplify(g + 2 * (y * total - i) / total ** 2) == 0


def test_squared_dice_compact_gradient_is_vnet_formula():
    g = S.pixel_gradient("squared_dice", smooth=0)
    _, syms = S.loss_expr("squared_dice", n=None, smooth=0)
    p, y = syms.inputs[0], syms.targets[0]
    i, qp, qy = syms.stats["I"], syms.stats["Q_p"], syms.stats["Q_y"]
    # V-Net: dD/dp_j = 2[g_j (sum p^2 + sum g^2) - 2 p_j sum p g] / (sum p^2 + sum g^2)^2 (binary g: y^2 = y)
    vnet = 2 * (y * (qp + qy) - 2 * p * i) / (qp + qy) ** 2
    assert sp.simplify(g + vnet) == 0


# ---- every form: gradients against finite differences ------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(2)
    for soft in (True, False):
        z, y = _point(rng, name, soft=soft)
        g = S.lambdify_gradient(name, **_needed(name))(z, y)
        fd = _fd(S.lambdify_loss(name, **_needed(name)), z, y)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", AGGREGATES)
@pytest.mark.slow
def test_aggregate_gradient_in_probabilities(name):
    rng = np.random.default_rng(3)
    p, y = rng.uniform(0.05, 0.95, 6), rng.uniform(0, 1, 6)
    g = S.lambdify_gradient(name, wrt="probs")(p, y)
    fd = _fd(S.lambdify_loss(name, "probs"), p, y)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", AGGREGATES)
@pytest.mark.slow
def test_compact_gradient_equals_direct_differentiation(name):
    """Chain rule through the statistics vs sp.diff of the explicit n = 3 expression."""
    expr, syms = S.loss_expr(name, "logits", n=3)
    expr = expr.subs({syms.params[k]: v for k, v in S.defaults(name).items()})
    direct = sp.lambdify(syms.inputs + syms.targets, [sp.diff(expr, v) for v in syms.inputs],
                         modules=[{"sigmoid": lambda x: 1 / (1 + np.exp(-x))}, "numpy"])
    rng = np.random.default_rng(4)
    for _ in range(5):
        z, y = rng.normal(size=3), rng.uniform(size=3)
        np.testing.assert_allclose(S.lambdify_gradient(name)(z, y), direct(*z, *y), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", MULTICLASS)
def test_multiclass_gradient_equals_direct_differentiation(name):
    """Class gradients + softmax Jacobian vs sp.diff of the form written out over 2 pixels, 3 classes."""
    expr, syms = S.loss_expr(name, "logits", n=2, classes=3)
    expr = expr.subs({syms.params[k]: v for k, v in S.defaults(name).items()})
    direct = sp.lambdify(syms.inputs + syms.targets, [sp.diff(expr, v) for v in syms.inputs], modules="numpy")
    rng = np.random.default_rng(9)
    for _ in range(3):
        z, y = rng.normal(size=(2, 3)), rng.dirichlet(np.ones(3), 2)
        np.testing.assert_allclose(S.lambdify_gradient(name)(z, y).ravel(), direct(*z.ravel(), *y.ravel()),
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(S.lambdify_loss(name)(z, y),
                                   sp.lambdify(syms.inputs + syms.targets, expr)(*z.ravel(), *y.ravel()), rtol=1e-12)


def test_explicit_gradient_expressions():
    rng = np.random.default_rng(5)
    z, y = rng.normal(size=3), rng.uniform(size=3)
    for name in ("dice", "tversky", "jaccard_metric"):
        grads = S.gradient(name, n=3, smooth=0.1)
        _, syms = S.loss_expr(name, "logits", n=3)
        subs = {**dict(zip(syms.inputs, z)), **dict(zip(syms.targets, y))}
        rest = {syms.params[k]: v for k, v in S.defaults(name).items() if k != "smooth"}
        vals = [float(g.subs(rest).rewrite(sp.exp).subs(subs)) for g in grads]
        np.testing.assert_allclose(vals, S.lambdify_gradient(name, smooth=0.1)(z, y), rtol=1e-9)


# ---- values against independent implementations -------------------------------------------------

def test_values_against_torch_and_monai():
    from monai.losses import DiceLoss, FocalLoss, TverskyLoss
    rng = np.random.default_rng(6)
    z, yb = rng.normal(size=20), (rng.random(20) < 0.4).astype(float)
    zt, yt = torch.tensor(z)[None, None], torch.tensor(yb)[None, None]
    np.testing.assert_allclose(S.lambdify_loss("binary_cross_entropy")(z, yb).sum(),
                               F.binary_cross_entropy_with_logits(zt, yt, reduction="sum").item(), rtol=1e-12)
    np.testing.assert_allclose(
        S.lambdify_loss("weighted_cross_entropy:binary", weight=(1.0, 3.0))(z, yb).sum(),
        F.binary_cross_entropy_with_logits(zt, yt, pos_weight=torch.tensor(3.0), reduction="sum").item(), rtol=1e-12)
    np.testing.assert_allclose(S.lambdify_loss("focal:alpha", alpha=0.25, gamma=2.0)(z, yb).mean(),
                               FocalLoss(gamma=2.0, alpha=0.25)(zt, yt).item(), rtol=1e-6)  # MONAI clamps
    np.testing.assert_allclose(S.lambdify_loss("dice", smooth=0.3)(z, yb),
                               DiceLoss(sigmoid=True, smooth_nr=0.3, smooth_dr=0.3)(zt, yt).item(), rtol=1e-10)
    monai_tversky = TverskyLoss(sigmoid=True, alpha=0.2, beta=0.8, smooth_nr=0.3, smooth_dr=0.3)
    np.testing.assert_allclose(S.lambdify_loss("tversky", alpha=0.2, beta=0.8, smooth=0.3)(z, yb),
                               monai_tversky(zt, yt).item(), rtol=1e-10)
    zc, yc = rng.normal(size=(10, 3)), rng.dirichlet(np.ones(3), 10)
    np.testing.assert_allclose(S.lambdify_loss("cross_entropy")(zc, yc).sum(),
                               F.cross_entropy(torch.tensor(zc), torch.tensor(yc), reduction="sum").item(), rtol=1e-12)
    w = (0.5, 1.0, 2.0)
    lab = rng.integers(0, 3, 10)
    np.testing.assert_allclose(S.lambdify_loss("weighted_cross_entropy", weight=w)(zc, np.eye(3)[lab]).sum(),
                               F.cross_entropy(torch.tensor(zc), torch.tensor(lab), reduction="sum",
                                               weight=torch.tensor(w, dtype=torch.float64)).item(), rtol=1e-12)


def test_tversky_alpha_weighs_false_positives():
    f = S.lambdify_loss("tversky", "probs", alpha=0.3, beta=0.7, smooth=0)
    p = np.array([1.0, 1.0, 1.0, 0.0])          # TP = 2, FP = 1, FN = 0
    y = np.array([1.0, 1.0, 0.0, 0.0])
    assert f(p, y) == pytest.approx(0.3 / 2.3)


# ---- every form against its catalogue function (torch autograd, float64) -------------------------

_WEIGHTS = {"pixel": (0.7, 3.0), "aggregate": (0.7, 3.0), "softmax": (0.5, 1.0, 2.0), "multiclass": (0.5, 1.0, 2.0)}


def _needed(name):
    """Test values for the form's parameters that have no numeric default in the signature."""
    c = compact(name)
    given = {"alpha": 0.3, "weight": _WEIGHTS[c.family]}
    return {k: given[k] for k in c.params if k not in S.defaults(name)}


def _moved(name):
    """Every parameter away from its default (smooth large enough to matter), and the needed ones."""
    moved = {k: (0.1 if k == "smooth" else 1.3 * v) for k, v in S.defaults(name).items()}
    return {**moved, **_needed(name)}


def _catalogue_value_and_grad(fn, family, z, y, kwargs):
    if family in CLASSED:
        x = torch.tensor(z.T[None], requires_grad=True)        # (1, C, n)
        t = torch.tensor(y.T[None])
    else:
        x = torch.tensor(z[None, None], requires_grad=True)    # (1, 1, n)
        t = torch.tensor(y[None, None])
    value = fn(x, t, **kwargs)
    (g,) = torch.autograd.grad(value, x)
    g = g.numpy()[0]
    return value.item(), (g.T if family in CLASSED else g[0])


def _sample(rng, family, soft):
    if family == "multiclass":
        return rng.normal(0, 1.5, (9, 3)), (rng.dirichlet(np.ones(3), 9) if soft else _hard_classes(rng, 9))
    if family == "softmax":
        z = rng.normal(0, 1.5, (9, 3))
        return z, (rng.dirichlet(np.ones(3), 9) if soft else np.eye(3)[rng.integers(0, 3, 9)])
    z = rng.normal(0, 1.5, 9)
    y = rng.uniform(0, 1, 9) if soft else (rng.random(9) < 0.4).astype(float)
    if not soft:
        y[:2] = (1.0, 0.0)          # both labels present
    return z, y


# the two forms whose SymPy gradients take seconds to build run in the full suite only (make unit)
SLOW_FORMS = {"exp_log", "mcc_loss"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_FORMS else n for n in NAMES])
@pytest.mark.parametrize("params", ["defaults", pytest.param("moved", marks=pytest.mark.slow)])
def test_form_matches_catalogue_autograd(name, params):
    """The catalogue function under the form's ``when`` equals the form, value and gradient.

    ``defaults``: neither side is given the parameters that have a default, so the form's defaults
    (read from the signature) are the function's.  ``moved``: every parameter changed, on both sides.
    """
    entry, form = entry_form(name)
    family = compact(name).family
    values = _needed(name) if params == "defaults" else _moved(name)
    kwargs = {**form.when, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}}
    rng = np.random.default_rng(7)
    for soft in ((True, False) if form.soft_target else (False,)):
        for _ in range(3):
            z, y = _sample(rng, family, soft)
            value, grad = _catalogue_value_and_grad(entry.fn, family, z, y, kwargs)
            ours = S.lambdify_loss(name, **values)(z, y)
            np.testing.assert_allclose(np.sum(ours), value, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(S.lambdify_gradient(name, **values)(z, y), grad, rtol=1e-9, atol=1e-12)


def test_form_parameters_are_the_functions_keywords():
    for name in NAMES:
        entry, form = entry_form(name)
        keywords = inspect.signature(entry.fn).parameters
        assert set(compact(name).params) <= set(keywords), name
        for k, v in S.defaults(name).items():
            assert keywords[k].default == v, (name, k)


# ---- API contract ----------------------------------------------------------------------------------

def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="name"):
        S.loss_expr("dise")
    with pytest.raises(ValueError, match="variables"):
        S.loss_expr("dice", "logprobs")
    with pytest.raises(ValueError, match="wrt"):
        S.gradient("dice", wrt="p")
    with pytest.raises(ValueError, match="unknown parameter"):
        S.loss_expr("dice", gamma=2)
    with pytest.raises(ValueError, match="weight"):
        S.loss_expr("weighted_cross_entropy", classes=3, weight=(1, 2))


def test_parameters_substitute_and_default():
    expr, syms = S.loss_expr("focal:alpha", gamma=2, alpha=sp.Rational(1, 4))
    assert syms.params["gamma"] not in expr.free_symbols and syms.params["alpha"] not in expr.free_symbols
    f = S.lambdify_loss("focal:alpha", alpha=0.25)     # gamma = 2 from the signature
    assert f(np.array([0.0]), np.array([1.0]))[0] == pytest.approx(0.25 * 0.25 * np.log(2))
    with pytest.raises(ValueError, match="alpha"):  # alpha=None in the signature: no numeric default
        S.lambdify_loss("focal:alpha")
    # the main form is focal at its defaults (alpha=None): (1 - q)^2 (-log q) at q = 1/2
    assert S.lambdify_loss("focal")(np.array([0.0]), np.array([1.0]))[0] == pytest.approx(0.25 * np.log(2))
    assert S.defaults("focal") == {"gamma": 2.0}
    assert S.defaults("focal_tversky") == {"alpha": 0.3, "beta": 0.7, "exponent": 0.75, "smooth": 1e-5}
    assert "exponent" in S.describe("focal_tversky")


def test_metric_losses_reduce_to_jaccard_and_dice_on_hard_targets():
    """JML1 = JML2 = soft Jaccard and DML = soft Dice for 0/1 targets, with the same smooth."""
    rng = np.random.default_rng(8)
    z, y = rng.normal(size=(20, 9)), (rng.random((20, 9)) < 0.4).astype(float)
    jac = S.lambdify_loss("jaccard", smooth=0.1)(z, y)
    np.testing.assert_allclose(S.lambdify_loss("jaccard_metric", smooth=0.1)(z, y), jac, rtol=1e-12)
    np.testing.assert_allclose(S.lambdify_loss("jaccard_metric:jml2", smooth=0.1)(z, y), jac, rtol=1e-12)
    np.testing.assert_allclose(S.lambdify_loss("dice_semimetric", smooth=0.1)(z, y),
                               S.lambdify_loss("dice", smooth=0.1)(z, y), rtol=1e-12)
    ys = rng.uniform(size=(20, 9))                # soft targets: JML vanishes at p = y, Jaccard does not
    p = np.clip(ys, 1e-9, 1 - 1e-9)
    assert np.all(S.lambdify_loss("jaccard_metric", "probs", smooth=0)(p, ys) < 1e-12)
    assert np.all(S.lambdify_loss("jaccard", "probs", smooth=0)(p, ys) > 0.1)
