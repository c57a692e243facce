r"""SymPy definitions of the segmentation losses, their derived gradients, and NumPy lambdas.

Three families:

* **per-pixel binary** losses of a logit :math:`z` (probability :math:`q = \sigma(z)`) and a
  target :math:`y \in [0, 1]`: ``binary_cross_entropy``, ``weighted_binary_cross_entropy``,
  ``balanced_cross_entropy``, ``focal``;
* **per-pixel softmax** losses of logits :math:`z_1..z_C` and targets :math:`y_1..y_C`:
  ``cross_entropy``, ``weighted_cross_entropy``, ``softmax_focal``;
* **aggregates** (region losses) of probabilities :math:`p_1..p_n` and targets :math:`y_1..y_n`:
  ``dice``, ``log_dice``, ``squared_dice``, ``log_cosh_dice``, ``jaccard``, ``log_jaccard``,
  ``tversky``, ``focal_tversky``, ``sensitivity_specificity``, ``mcc``, ``jaccard_metric`` (JML, first form),
  ``jaccard_metric_2`` (JML, second form), ``dice_semimetric`` (DML).

An aggregate is written in a few *statistics* :math:`T_k = \sum_i h_k(p_i, y_i)` (for instance
:math:`I = \sum_i p_i y_i`, :math:`S_p = \sum_i p_i`), so its gradient by the chain rule,
:math:`\partial L/\partial p_i = \sum_k \partial L/\partial T_k \cdot \partial h_k/\partial p(p_i, y_i)`,
is one compact expression valid for any number of pixels (:func:`pixel_gradient`).  With
``n=`` the statistics are expanded into explicit sums over :math:`n` symbolic pixels
(:func:`loss_expr`, :func:`gradient`).

The logistic function is the unevaluated SymPy function :class:`sigmoid` whose derivative is
:math:`\sigma(1 - \sigma)`, so gradients simplify to the textbook forms, e.g.

    >>> from segmath import symbolic
    >>> symbolic.gradient("binary_cross_entropy")[0]
    -y + sigmoid(z)

:data:`FORMS` maps symbolic forms to catalogue entries (with the keyword arguments that make the
two the same function), so tests compare the lambdified SymPy gradient with torch autograd.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp

__all__ = ["sigmoid", "Symbols", "Form", "FORMS", "NAMES", "loss_expr", "gradient", "pixel_gradient",
           "lambdify_loss", "lambdify_gradient", "describe"]


class sigmoid(sp.Function):
    r"""The logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})`, kept unevaluated.

    Its derivative is :math:`\sigma(z)(1 - \sigma(z))`; ``expr.rewrite(sp.exp)`` expands it.
    """
    nargs = 1

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        return True if self.args[0].is_real else None

    def _latex(self, printer, exp=None):
        base = r"\sigma\left(%s\right)" % printer._print(self.args[0])
        return base if exp is None else r"%s^{%s}" % (base, exp)


# ---------------------------------------------------------------------------------------------
# parameters and statistics
# ---------------------------------------------------------------------------------------------

_P = {
    "alpha": sp.Symbol("alpha", positive=True),
    "beta": sp.Symbol("beta", positive=True),
    "gamma": sp.Symbol("gamma", positive=True),
    "w0": sp.Symbol("w_0", positive=True),
    "w1": sp.Symbol("w_1", positive=True),
    "smooth": sp.Symbol("s", nonnegative=True),
    "r": sp.Symbol("r", positive=True),
}

_p, _y = sp.Symbol("p", real=True), sp.Symbol("y", real=True)

# name -> (symbol, per-pixel summand h(p, y))
_STATS = {
    "I": (sp.Symbol("I", real=True), _p * _y),                   # soft intersection sum p y
    "Sp": (sp.Symbol("S_p", real=True), _p),                     # sum p
    "Sy": (sp.Symbol("S_y", real=True), _y),                     # sum y
    "Qp": (sp.Symbol("Q_p", real=True), _p ** 2),                # sum p^2
    "Qy": (sp.Symbol("Q_y", real=True), _y ** 2),                # sum y^2
    "L1": (sp.Symbol("L_1", real=True), sp.Abs(_p - _y)),        # sum |p - y|
    "n": (sp.Symbol("n", positive=True), sp.Integer(1)),         # number of pixels
    "E1": (sp.Symbol("E_1", real=True), (_y - _p) ** 2 * _y),    # squared error on foreground
    "E0": (sp.Symbol("E_0", real=True), (_y - _p) ** 2 * (1 - _y)),  # squared error on background
}


def _t(name):
    return _STATS[name][0]


# ---------------------------------------------------------------------------------------------
# definitions
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Def:
    family: str                   # "pixel" | "softmax" | "aggregate"
    build: Callable               # see _pixel / _softmax / _aggregate below
    params: tuple                 # parameter names (keys of _P, or "weight" for per-class weights)
    defaults: dict                # numeric defaults used by the lambdas
    description: str


def _pixel_bce(q, logq, log1mq, y, P):
    return -(y * logq + (1 - y) * log1mq)


def _pixel_wbce(q, logq, log1mq, y, P):
    return -(P["w1"] * y * logq + P["w0"] * (1 - y) * log1mq)


def _pixel_balanced(q, logq, log1mq, y, P):
    return -(P["beta"] * y * logq + (1 - P["beta"]) * (1 - y) * log1mq)


def _pixel_focal(q, logq, log1mq, y, P):
    a, g = P["alpha"], P["gamma"]
    return -(a * y * (1 - q) ** g * logq + (1 - a) * (1 - y) * q ** g * log1mq)


def _softmax_ce(q, logq, y, P):
    return -sum(yc * lc for yc, lc in zip(y, logq))


def _softmax_wce(q, logq, y, P):
    return -sum(wc * yc * lc for wc, yc, lc in zip(P["weight"], y, logq))


def _softmax_focal(q, logq, y, P):
    return -sum(yc * (1 - qc) ** P["gamma"] * lc for qc, yc, lc in zip(q, y, logq))


def _dice_ratio(P):
    s = P["smooth"]
    return (2 * _t("I") + s) / (_t("Sp") + _t("Sy") + s)


def _jaccard_ratio(P):
    s = P["smooth"]
    return (_t("I") + s) / (_t("Sp") + _t("Sy") - _t("I") + s)


def _tversky_index(P):
    s, tp = P["smooth"], _t("I")
    fp, fn = _t("Sp") - tp, _t("Sy") - tp
    return (tp + s) / (tp + P["alpha"] * fp + P["beta"] * fn + s)


def _agg_sens_spec(P):
    s = P["smooth"]
    return P["r"] * _t("E1") / (_t("Sy") + s) + (1 - P["r"]) * _t("E0") / (_t("n") - _t("Sy") + s)


def _agg_mcc(P):
    s, tp = P["smooth"], _t("I")
    fp, fn = _t("Sp") - tp, _t("Sy") - tp
    tn = _t("n") - _t("Sp") - _t("Sy") + tp
    return 1 - (tp * tn - fp * fn + s) / sp.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + s)


def _agg_jml1(P):
    # intersection (|p| + |y| - |p-y|)/2 and union (|p| + |y| + |p-y|)/2, each smoothed by s,
    # so that JML1 equals the smoothed Jaccard loss exactly for hard targets
    s, a, l1 = P["smooth"], _t("Sp") + _t("Sy"), _t("L1")
    return 1 - (a - l1 + 2 * s) / (a + l1 + 2 * s)


def _agg_jml2(P):
    s, i = P["smooth"], _t("I")
    return 1 - (i + s) / (i + _t("L1") + s)


def _agg_dml(P):
    s, a = P["smooth"], _t("Sp") + _t("Sy")
    return 1 - (a - _t("L1") + s) / (a + s)


_S = ("smooth",)
_DEFS = {
    "binary_cross_entropy": _Def("pixel", _pixel_bce, (), {}, "-y log q - (1-y) log(1-q)"),
    "weighted_binary_cross_entropy": _Def("pixel", _pixel_wbce, ("w0", "w1"), {"w0": 1.0, "w1": 3.0},
                                          "-w1 y log q - w0 (1-y) log(1-q)"),
    "balanced_cross_entropy": _Def("pixel", _pixel_balanced, ("beta",), {"beta": 0.8},
                                   "-beta y log q - (1-beta)(1-y) log(1-q), beta = fraction of negatives"),
    "focal": _Def("pixel", _pixel_focal, ("alpha", "gamma"), {"alpha": 0.25, "gamma": 2.0},
                  "-alpha y (1-q)^gamma log q - (1-alpha)(1-y) q^gamma log(1-q) (Lin et al. 2017)"),
    "cross_entropy": _Def("softmax", _softmax_ce, (), {}, "-sum_c y_c log softmax(z)_c"),
    "weighted_cross_entropy": _Def("softmax", _softmax_wce, ("weight",), {"weight": None},
                                   "-sum_c w_c y_c log softmax(z)_c"),
    "softmax_focal": _Def("softmax", _softmax_focal, ("gamma",), {"gamma": 2.0},
                          "-sum_c y_c (1-p_c)^gamma log p_c"),
    "dice": _Def("aggregate", lambda P: 1 - _dice_ratio(P), _S, {"smooth": 1e-5},
                 "1 - (2 I + s) / (S_p + S_y + s)"),
    "log_dice": _Def("aggregate", lambda P: -sp.log(_dice_ratio(P)), _S, {"smooth": 1e-5},
                     "-log((2 I + s) / (S_p + S_y + s))"),
    "squared_dice": _Def("aggregate", lambda P: 1 - (2 * _t("I") + P["smooth"]) /
                         (_t("Qp") + _t("Qy") + P["smooth"]), _S, {"smooth": 1e-5},
                         "1 - (2 I + s) / (sum p^2 + sum y^2 + s) (Milletari et al. 2016)"),
    "log_cosh_dice": _Def("aggregate", lambda P: sp.log(sp.cosh(1 - _dice_ratio(P))), _S, {"smooth": 1e-5},
                          "log cosh(Dice loss) (Jadon 2020)"),
    "jaccard": _Def("aggregate", lambda P: 1 - _jaccard_ratio(P), _S, {"smooth": 1e-5},
                    "1 - (I + s) / (S_p + S_y - I + s)"),
    "log_jaccard": _Def("aggregate", lambda P: -sp.log(_jaccard_ratio(P)), _S, {"smooth": 1e-5},
                        "-log((I + s) / (S_p + S_y - I + s))"),
    "tversky": _Def("aggregate", lambda P: 1 - _tversky_index(P), ("alpha", "beta", "smooth"),
                    {"alpha": 0.3, "beta": 0.7, "smooth": 1e-5},
                    "1 - (TP + s) / (TP + alpha FP + beta FN + s): alpha weights FP, beta FN"),
    "focal_tversky": _Def("aggregate", lambda P: (1 - _tversky_index(P)) ** P["gamma"],
                          ("alpha", "beta", "gamma", "smooth"),
                          {"alpha": 0.3, "beta": 0.7, "gamma": 0.75, "smooth": 1e-5},
                          "(1 - Tversky)^gamma: gamma is the exponent itself (the catalogue's ``exponent``; "
                          "Abraham & Khan 2019 write it as 1/gamma)"),
    "sensitivity_specificity": _Def("aggregate", _agg_sens_spec, ("r", "smooth"), {"r": 0.05, "smooth": 1e-5},
                                    "r sum (y-p)^2 y / (sum y + s) + (1-r) sum (y-p)^2 (1-y) / (sum (1-y) + s)"),
    "mcc": _Def("aggregate", _agg_mcc, _S, {"smooth": 1e-5},
                "1 - (TP TN - FP FN + s) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN) + s) (soft MCC)"),
    "jaccard_metric": _Def("aggregate", _agg_jml1, _S, {"smooth": 1e-5},
                           "1 - (S_p + S_y - L1 + 2s) / (S_p + S_y + L1 + 2s) (JML, Wang et al. 2023)"),
    "jaccard_metric_2": _Def("aggregate", _agg_jml2, _S, {"smooth": 1e-5},
                             "1 - (I + s) / (I + L1 + s) (JML second form)"),
    "dice_semimetric": _Def("aggregate", _agg_dml, _S, {"smooth": 1e-5},
                            "1 - (S_p + S_y - L1 + s) / (S_p + S_y + s) (DML, Wang et al. 2023)"),
}

NAMES = tuple(_DEFS)


def describe(name: str) -> str:
    """One-line description of a symbolic form."""
    return _def(name).description


def _def(name):
    try:
        return _DEFS[name]
    except KeyError:
        raise ValueError(f"name must be one of {', '.join(NAMES)}; got {name!r}") from None


# ---------------------------------------------------------------------------------------------
# building expressions
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Symbols:
    """The symbols of an expression from :func:`loss_expr`.

    ``inputs``: logits ``z`` or probabilities ``p`` (one per pixel or class); ``targets``: ``y``;
    ``params``: parameter name -> symbol (a tuple of symbols for per-class ``weight``);
    ``stats``: statistic name -> symbol (aggregates in compact form only).
    """
    inputs: tuple
    targets: tuple
    params: dict
    variables: str
    stats: dict = field(default_factory=dict)


def _check_variables(variables):
    if variables not in ("logits", "probs"):
        raise ValueError(f"variables must be 'logits' or 'probs', got {variables!r}")


def _params(d, classes):
    out = {}
    for name in d.params:
        if name == "weight":
            out[name] = tuple(sp.Symbol(f"w_{c}", positive=True) for c in range(1, classes + 1))
        else:
            out[name] = _P[name]
    return out


def _substitute_values(expr, params, values):
    """Replace parameters given numerically in ``values`` (``weight`` as a sequence)."""
    unknown = set(values) - set(params)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}; this form has {sorted(params)}")
    subs = {}
    for name, value in values.items():
        sym = params[name]
        if isinstance(sym, tuple):
            if len(value) != len(sym):
                raise ValueError(f"{name} needs {len(sym)} values, got {len(value)}")
            subs.update({s: sp.nsimplify(v) for s, v in zip(sym, value)})
        else:
            subs[sym] = sp.nsimplify(value)
    return expr.subs(subs)


@functools.lru_cache(maxsize=None)
def _build(name, variables, n, classes):
    """(expr, Symbols) with symbolic parameters; n=None gives the compact aggregate form."""
    d = _def(name)
    _check_variables(variables)
    P = _params(d, classes)
    if d.family == "pixel":
        z, y = sp.Symbol("z", real=True), sp.Symbol("y", real=True)
        if variables == "logits":
            q = sigmoid(z)
            # log sigma(z) and log(1 - sigma(z)) kept as logs of the unevaluated sigmoid
            expr = d.build(q, sp.log(q), sp.log(1 - q), y, P)
            return expr, Symbols((z,), (y,), P, variables)
        return d.build(_p, sp.log(_p), sp.log(1 - _p), _y, P), Symbols((_p,), (_y,), P, variables)
    if d.family == "softmax":
        y = sp.symbols(f"y_1:{classes + 1}", real=True)
        if variables == "logits":
            z = sp.symbols(f"z_1:{classes + 1}", real=True)
            lse = sp.log(sum(sp.exp(zc) for zc in z))
            logq = tuple(zc - lse for zc in z)
            q = tuple(sp.exp(zc) / sum(sp.exp(zj) for zj in z) for zc in z)
            return d.build(q, logq, y, P), Symbols(z, y, P, variables)
        p = sp.symbols(f"p_1:{classes + 1}", positive=True)
        return d.build(p, tuple(sp.log(pc) for pc in p), y, P), Symbols(p, y, P, variables)
    # aggregate
    compact = d.build(P)
    if n is None:
        stats = {k: _STATS[k][0] for k in _STATS if _STATS[k][0] in compact.free_symbols}
        if variables == "logits":
            raise ValueError("the compact aggregate form is in probabilities; use variables='probs' or give n")
        return compact, Symbols((_p,), (_y,), P, variables, stats)
    p = sp.symbols(f"p_1:{n + 1}", real=True)
    y = sp.symbols(f"y_1:{n + 1}", real=True)
    subs = {sym: sum(h.subs({_p: pi, _y: yi}, simultaneous=True) for pi, yi in zip(p, y))
            for sym, h in _STATS.values()}
    expr = compact.subs(subs, simultaneous=True)
    if variables == "probs":
        return expr, Symbols(p, y, P, variables)
    z = sp.symbols(f"z_1:{n + 1}", real=True)
    return expr.subs({pi: sigmoid(zi) for pi, zi in zip(p, z)}, simultaneous=True), Symbols(z, y, P, variables)


def _natural(name):
    return "probs" if _def(name).family == "aggregate" else "logits"


def loss_expr(name: str, variables: str | None = None, *, n: int | None = 3, classes: int = 3, **values):
    r"""SymPy expression of a loss and its symbols.

    Args:
        name: one of :data:`NAMES`.
        variables: ``"logits"`` (``z``, with :math:`q = \sigma(z)` or the softmax) or ``"probs"``
            (``p``); default: logits for per-pixel losses, probabilities for aggregates.
        n: number of symbolic pixels of an aggregate; ``None`` gives the compact form in the
            statistics (``I``, ``S_p``, ``S_y``, ...).
        classes: number of classes of a softmax loss.
        **values: numeric parameter values to substitute (e.g. ``gamma=2``, ``weight=(1, 2, 3)``).

    Returns:
        ``(expr, symbols)`` with ``symbols`` a :class:`Symbols`.

    Example:
        >>> from segmath import symbolic
        >>> expr, s = symbolic.loss_expr("dice", n=None, smooth=0)
        >>> expr
        -2*I/(S_p + S_y) + 1
    """
    variables = variables or _natural(name)
    expr, syms = _build(name, variables, n, classes)
    if values:
        expr = _substitute_values(expr, syms.params, values)
    return expr, syms


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------

def _tidy(expr, family):
    """Simplify cheaply: full simplify for one-pixel forms, cancel/factor for rational aggregates."""
    if family == "pixel":
        return sp.simplify(expr)
    if family == "softmax":
        return sp.together(expr)
    try:
        return sp.factor(sp.cancel(expr))
    except sp.PolynomialError:
        return expr


@functools.lru_cache(maxsize=None)
def _pixel_gradient(name, wrt, simplify):
    d = _def(name)
    if d.family != "aggregate":
        raise ValueError(f"{name!r} is a per-pixel loss; use gradient()")
    expr, syms = _build(name, "probs", None, 1)
    # chain rule through the statistics T_k = sum_i h_k(p_i, y_i)
    g = sum(sp.diff(expr, sym) * sp.diff(h, _p) for sym, h in _STATS.values() if sym in expr.free_symbols)
    if simplify:
        g = _tidy(g, "aggregate")
    if wrt == "logits":
        z = sp.Symbol("z", real=True)
        g = (g * _p * (1 - _p)).subs(_p, sigmoid(z))
    return g


def pixel_gradient(name: str, wrt: str = "probs", simplify: bool = True, **values):
    r"""Compact per-pixel gradient of an aggregate, valid for any number of pixels.

    :math:`\partial L / \partial p_i` in terms of :math:`p = p_i`, :math:`y = y_i` and the
    statistics (``I``, ``S_p``, ``S_y``, ...); with ``wrt="logits"``, :math:`\partial L/\partial z_i`
    with :math:`p_i = \sigma(z_i)`.

    Example:
        >>> from segmath import symbolic
        >>> symbolic.pixel_gradient("dice", smooth=0)
        -2*(-I + S_p*y + S_y*y)/(S_p + S_y)**2
    """
    _check_wrt(wrt)
    g = _pixel_gradient(name, wrt, bool(simplify))
    if values:
        _, syms = _build(name, "probs", None, 1)
        g = _substitute_values(g, syms.params, values)
        if simplify:
            g = _tidy(g, "aggregate") if wrt == "probs" else g
    return g


def _check_wrt(wrt):
    if wrt not in ("logits", "probs"):
        raise ValueError(f"wrt must be 'logits' or 'probs', got {wrt!r}")


@functools.lru_cache(maxsize=None)
def _gradient(name, wrt, simplify, n, classes):
    d = _def(name)
    expr, syms = _build(name, wrt, n, classes)
    if d.family == "aggregate" and simplify:
        # the compact chain-rule gradient with the statistics written out as sums over n pixels
        _, syms_p = _build(name, "probs", n, classes)
        p, y = syms_p.inputs, syms_p.targets
        sums = {sym: sum(h.subs({_p: pi, _y: yi}, simultaneous=True) for pi, yi in zip(p, y))
                for sym, h in _STATS.values()}
        g = _pixel_gradient(name, "probs", True).subs(sums, simultaneous=True)
        grads = tuple(g.subs({_p: pi, _y: yi}, simultaneous=True) for pi, yi in zip(p, y))
        if wrt == "logits":
            sub = {pi: sigmoid(zi) for pi, zi in zip(p, syms.inputs)}
            grads = tuple((gi * pi * (1 - pi)).subs(sub, simultaneous=True) for gi, pi in zip(grads, p))
        return grads
    grads = tuple(sp.diff(expr, v) for v in syms.inputs)
    if simplify:
        grads = tuple(_tidy(g, d.family) for g in grads)
    return grads


def gradient(name: str, wrt: str = "logits", simplify: bool = True, *, n: int = 3, classes: int = 3, **values):
    r"""Gradient of a loss with respect to each logit (or probability), derived by SymPy.

    Returns a tuple with one expression per input symbol of :func:`loss_expr` (one for per-pixel
    binary losses, ``classes`` for softmax losses, ``n`` for aggregates).

    Example:
        >>> from segmath import symbolic
        >>> symbolic.gradient("binary_cross_entropy")[0]
        -y + sigmoid(z)
        >>> symbolic.gradient("cross_entropy", classes=2)[0]   # (y_1 + y_2) softmax_1 - y_1
        (-y_1*exp(z_2) + y_2*exp(z_1))/(exp(z_1) + exp(z_2))
    """
    _check_wrt(wrt)
    grads = _gradient(name, wrt, bool(simplify), n, classes)
    if values:
        _, syms = _build(name, wrt, n, classes)
        grads = tuple(_substitute_values(g, syms.params, values) for g in grads)
        if simplify and _def(name).family == "pixel":
            grads = tuple(_tidy(g, "pixel") for g in grads)
    return grads


# ---------------------------------------------------------------------------------------------
# NumPy lambdas
# ---------------------------------------------------------------------------------------------

def _expit(x):
    from scipy.special import expit
    return expit(x)


_MODULES = [{"sigmoid": _expit}, "numpy"]


def _numeric_values(name, values, classes):
    d = _def(name)
    out = {k: v for k, v in d.defaults.items() if v is not None}
    out.update(values)
    if "weight" in d.params and "weight" not in out:
        out["weight"] = (1.0,) * classes
    missing = set(d.params) - set(out)
    if missing:
        raise ValueError(f"give numeric values for {sorted(missing)}")
    return out


def _as_float(x):
    return np.asarray(x, dtype=np.float64)


@functools.lru_cache(maxsize=None)
def _stat_lambdas():
    return {k: sp.lambdify((_p, _y), h, modules=_MODULES) for k, (sym, h) in _STATS.items()}


def _stats_numeric(p, y, keepdims):
    """Numeric statistics over the last axis (pixels), as keyword arguments by symbol name."""
    fns = _stat_lambdas()
    out = {}
    for k, (sym, _) in _STATS.items():
        v = np.broadcast_to(fns[k](p, y), np.broadcast_shapes(p.shape, y.shape))
        out[sym.name] = v.sum(axis=-1, keepdims=keepdims)
    return out


def _key(values):
    return tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in values.items()))


def lambdify_loss(name: str, variables: str = "logits", *, classes: int = 3, **values) -> Callable:
    """NumPy function ``f(x, y)`` of a loss, parameters fixed (defaults unless given).

    ``x`` holds logits by default (as :func:`lambdify_gradient`), probabilities with
    ``variables="probs"``.

    * per-pixel binary: ``x`` logits (or probabilities), ``y`` targets, any broadcastable shapes;
      returns the elementwise loss;
    * softmax: ``x``, ``y`` of shape ``(..., C)``; returns ``(...)``;
    * aggregates: ``x``, ``y`` of shape ``(..., n)`` (pixels last, any ``n``); returns ``(...)``.

    Example:
        >>> import numpy as np
        >>> from segmath import symbolic
        >>> f = symbolic.lambdify_loss("dice", "probs", smooth=0)
        >>> float(f(np.array([1.0, 0.0]), np.array([1.0, 0.0])))
        0.0
    """
    _check_variables(variables)
    return _lambdify_loss(name, variables, classes, _key(_numeric_values(name, values, classes)))


@functools.lru_cache(maxsize=None)
def _lambdify_loss(name, variables, classes, key):
    values = dict(key)
    d = _def(name)
    if d.family == "aggregate":
        expr, syms = loss_expr(name, "probs", n=None, **values)
        stat_syms = sorted(syms.stats.values(), key=lambda s: s.name)
        f = sp.lambdify(stat_syms, expr, modules=_MODULES)

        def loss(x, y):
            x, y = _as_float(x), _as_float(y)
            p = _expit(x) if variables == "logits" else x
            st = _stats_numeric(p, y, keepdims=False)
            return f(*(st[s.name] for s in stat_syms))
        return loss
    expr, syms = loss_expr(name, variables, classes=classes, **values)
    f = sp.lambdify(syms.inputs + syms.targets, expr, modules=_MODULES)
    if d.family == "pixel":
        return lambda x, y: f(_as_float(x), _as_float(y))

    def loss(x, y):
        x, y = _as_float(x), _as_float(y)
        return f(*np.moveaxis(x, -1, 0), *np.moveaxis(y, -1, 0))
    return loss


def lambdify_gradient(name: str, wrt: str = "logits", *, classes: int = 3, **values) -> Callable:
    """NumPy function ``g(x, y)`` of the SymPy gradient, with the same array conventions as
    :func:`lambdify_loss`; returns an array of the broadcast shape of ``x`` and ``y``.

    Aggregates use the compact :func:`pixel_gradient` with the statistics summed over the last
    axis, so any number of pixels works.

    Example:
        >>> import numpy as np
        >>> from segmath import symbolic
        >>> g = symbolic.lambdify_gradient("binary_cross_entropy")
        >>> g(np.array([0.0]), np.array([1.0]))
        array([-0.5])
    """
    _check_wrt(wrt)
    return _lambdify_gradient(name, wrt, classes, _key(_numeric_values(name, values, classes)))


@functools.lru_cache(maxsize=None)
def _lambdify_gradient(name, wrt, classes, key):
    values = dict(key)
    d = _def(name)
    if d.family == "aggregate":
        g = pixel_gradient(name, "probs", **values)
        stat_syms = sorted(_stat_symbols(g), key=lambda s: s.name)
        f = sp.lambdify((_p, _y) + tuple(stat_syms), g, modules=_MODULES)

        def grad(x, y):
            x, y = _as_float(x), _as_float(y)
            p = _expit(x) if wrt == "logits" else x
            st = _stats_numeric(p, y, keepdims=True)
            out = np.broadcast_to(f(p, y, *(st[s.name] for s in stat_syms)), np.broadcast_shapes(p.shape, y.shape))
            return out * p * (1 - p) if wrt == "logits" else np.array(out)
        return grad
    grads = gradient(name, wrt, classes=classes, **values)
    _, syms = _build(name, wrt, 3, classes)
    f = sp.lambdify(syms.inputs + syms.targets, list(grads), modules=_MODULES)
    if d.family == "pixel":
        def grad(x, y):
            x, y = _as_float(x), _as_float(y)
            return np.broadcast_to(f(x, y)[0], np.broadcast_shapes(x.shape, y.shape)).copy()
        return grad

    def grad(x, y):
        x, y = _as_float(x), _as_float(y)
        shape = np.broadcast_shapes(x.shape, y.shape)
        cols = f(*np.moveaxis(x, -1, 0), *np.moveaxis(y, -1, 0))
        return np.stack([np.broadcast_to(c, shape[:-1]) for c in cols], axis=-1)
    return grad


def _stat_symbols(expr):
    syms = {sym for sym, _ in _STATS.values()}
    return [s for s in expr.free_symbols if s in syms]


# ---------------------------------------------------------------------------------------------
# correspondence with the catalogue
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Form:
    """How a symbolic form corresponds to a catalogue entry.

    ``catalogue``: the catalogue id; ``values``: numeric parameters of the symbolic form (or a
    function of the NumPy target returning them, for parameters the catalogue computes from it);
    ``kwargs``: keyword arguments for the catalogue function that make it the same function;
    ``layout``: ``"binary"`` (input ``(1, 1, n)`` logits, target ``(1, 1, n)``),
    ``"softmax"`` (input ``(1, C, n)`` logits, target ``(1, C, n)`` one-hot/soft);
    ``reduction``: the catalogue ``reduction`` under which the catalogue value equals the sum of
    the per-pixel symbolic losses (``"sum"``) or the single aggregate (``"mean"``);
    ``soft_target``: whether soft targets may be used in the comparison.
    """
    catalogue: str
    values: dict | Callable = field(default_factory=dict)
    kwargs: dict = field(default_factory=dict)
    layout: str = "binary"
    reduction: str = "mean"
    soft_target: bool = True


def _balanced_beta(y):
    """HED's beta = fraction of negative pixels, as the catalogue computes it from the target."""
    return {"beta": float(1.0 - np.mean(y))}


# Aggregates: one image, binary C = 1 layout, logits (the catalogue applies the sigmoid), so the
# comparison covers the chain rule through sigma as well.  Per-pixel losses: reduction="sum".
_SM = 0.1   # a smooth large enough to matter in the comparison
_W3 = (0.5, 1.0, 2.0)
FORMS = {
    "binary_cross_entropy": Form("binary_cross_entropy", reduction="sum"),
    "weighted_binary_cross_entropy": Form("weighted_cross_entropy", {"w0": 0.7, "w1": 3.0},
                                          {"weight": (0.7, 3.0)}, reduction="sum"),
    "balanced_cross_entropy": Form("balanced_cross_entropy", _balanced_beta, {}, reduction="sum",
                                   soft_target=False),
    "focal": Form("focal", {"alpha": 0.25, "gamma": 2.0}, {"alpha": 0.25, "gamma": 2.0}, reduction="sum"),
    "cross_entropy": Form("cross_entropy", {}, {}, "softmax", "sum"),
    "weighted_cross_entropy": Form("weighted_cross_entropy", {"weight": _W3}, {"weight": _W3}, "softmax", "sum"),
    "softmax_focal": Form("focal", {"gamma": 1.5}, {"gamma": 1.5}, "softmax", "sum"),
    "dice": Form("dice", {"smooth": _SM}, {"smooth": _SM}),
    "log_dice": Form("log_dice", {"smooth": _SM}, {"smooth": _SM}),
    "squared_dice": Form("squared_dice", {"smooth": _SM}, {"smooth": _SM}),
    "log_cosh_dice": Form("log_cosh_dice", {"smooth": _SM}, {"smooth": _SM}),
    "jaccard": Form("jaccard", {"smooth": _SM}, {"smooth": _SM}),
    "log_jaccard": Form("log_jaccard", {"smooth": _SM}, {"smooth": _SM}),
    "tversky": Form("tversky", {"alpha": 0.3, "beta": 0.7, "smooth": _SM},
                    {"alpha": 0.3, "beta": 0.7, "smooth": _SM}),
    "focal_tversky": Form("focal_tversky", {"alpha": 0.3, "beta": 0.7, "gamma": 0.75, "smooth": _SM},
                          {"alpha": 0.3, "beta": 0.7, "exponent": 0.75, "smooth": _SM}),
    "sensitivity_specificity": Form("sensitivity_specificity", {"r": 0.2, "smooth": _SM},
                                    {"r": 0.2, "smooth": _SM}),
    "mcc": Form("mcc_loss", {"smooth": _SM}, {"smooth": _SM}),
    "jaccard_metric": Form("jaccard_metric", {"smooth": _SM}, {"variant": "jml1", "smooth": _SM}),
    "jaccard_metric_2": Form("jaccard_metric", {"smooth": _SM}, {"variant": "jml2", "smooth": _SM}),
    "dice_semimetric": Form("dice_semimetric", {"smooth": _SM}, {"smooth": _SM}),
}
