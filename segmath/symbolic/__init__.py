r"""SymPy forms of the catalogue's losses, their derived gradients, and NumPy lambdas.

Each loss's form is part of its catalogue entry (``register(..., symbolic=...)``, see
:class:`~segmath.catalogue.Form`), written in the function's own parameter names; the defaults come
from the function's signature.  A form is named by its entry id (``"dice"``), or ``"id:label"`` for
an entry's further forms (``"focal:softmax"``); :func:`names` lists them.  Three families:

* **pixel** (binary): a loss of the probability :math:`p` (:math:`\sigma(z)` of a logit) and a
  target :math:`y \in [0, 1]`;
* **softmax**: a sum over classes of a term in :math:`p_c` (the softmax of :math:`z_1..z_C`) and :math:`y_c`;
* **aggregate** (region losses of one image): a function of a few *statistics*
  :math:`T_k = \sum_i h_k(p_i, y_i)` (:math:`I = \sum_i p_i y_i`, :math:`S_p = \sum_i p_i`, ...), so its
  gradient by the chain rule, :math:`\partial L/\partial p_i = \sum_k \partial L/\partial T_k \cdot
  \partial h_k/\partial p(p_i, y_i)`, is one expression valid for any number of pixels
  (:func:`pixel_gradient`); with ``n=`` the statistics are written out over :math:`n` symbolic pixels.

The logistic function is the unevaluated SymPy function :class:`sigmoid`, so gradients simplify to
the textbook forms:

    >>> from segmath import symbolic
    >>> symbolic.gradient("binary_cross_entropy")[0]
    -y + sigmoid(z)

The catalogue's displayed ``formula`` of an entry with a form is :func:`formula`, its ``sympy.latex``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp

from . import multiclass as _mc
from .display import describe, formula
from .parse import P as _p
from .parse import Y as _y
from .parse import compact, defaults, names, sigmoid

__all__ = ["sigmoid", "Symbols", "names", "defaults", "loss_expr", "gradient", "pixel_gradient",
           "lambdify_loss", "lambdify_gradient", "describe", "formula"]


@dataclass(frozen=True)
class Symbols:
    """The symbols of an expression from :func:`loss_expr`.

    ``inputs``: logits ``z`` or probabilities ``p`` (one per pixel or class); ``targets``: ``y``;
    ``params``: keyword -> symbol (a tuple of symbols for a per-class ``weight``);
    ``stats``: statistic name -> symbol (aggregates in compact form only).
    """
    inputs: tuple
    targets: tuple
    params: dict
    variables: str
    stats: dict = field(default_factory=dict)


def _check_variables(variables, what="variables"):
    if variables not in ("logits", "probs"):
        raise ValueError(f"{what} must be 'logits' or 'probs', got {variables!r}")


def _substitute_values(expr, params, values):
    """Replace parameters given numerically in ``values`` (a per-class one as a sequence)."""
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


def _summed(table, p, y):
    """Each statistic written out as its sum over the symbolic pixels ``p``, ``y``."""
    return {sym: sum(h.subs({_p: pi, _y: yi}, simultaneous=True) for pi, yi in zip(p, y))
            for sym, h in table.items()}


@functools.lru_cache(maxsize=None)
def _build(name, variables, n, classes):
    """(expr, Symbols) with symbolic parameters; n=None gives the compact aggregate form."""
    _check_variables(variables)
    c = compact(name, classes)
    if c.family == "multiclass" and n is not None:
        expr, inputs, targets = _mc.expanded(name, variables, n, classes)
        return expr, Symbols(inputs, targets, c.params, variables)
    if c.family == "pixel":
        if variables == "probs":
            return c.expr, Symbols((_p,), (_y,), c.params, variables)
        z = sp.Symbol("z", real=True)
        return c.expr.subs(_p, sigmoid(z)), Symbols((z,), (_y,), c.params, variables)
    if c.family == "softmax":
        if variables == "probs":
            return c.expr, Symbols(c.probs, c.targets, c.params, variables)
        z = sp.symbols(f"z_1:{classes + 1}", real=True)
        total = sum(sp.exp(zj) for zj in z)
        # log p_c = z_c - log sum exp first, so the log-softmax stays in that form
        logs = {sp.log(pc): zc - sp.log(total) for pc, zc in zip(c.probs, z)}
        soft = {pc: sp.exp(zc) / total for pc, zc in zip(c.probs, z)}
        return c.expr.subs(logs).subs(soft), Symbols(z, c.targets, c.params, variables)
    if n is None:
        if variables == "logits":
            raise ValueError("the compact aggregate form is in probabilities; use variables='probs' or give n")
        return c.expr, Symbols((_p,), (_y,), c.params, variables, {s.name: s for s in c.stats})
    p = sp.symbols(f"p_1:{n + 1}", real=True)
    y = sp.symbols(f"y_1:{n + 1}", real=True)
    expr = c.expr.subs(_summed(c.stats, p, y), simultaneous=True)
    if variables == "probs":
        return expr, Symbols(p, y, c.params, variables)
    z = sp.symbols(f"z_1:{n + 1}", real=True)
    return expr.subs({pi: sigmoid(zi) for pi, zi in zip(p, z)}, simultaneous=True), Symbols(z, y, c.params, variables)


def _natural(name):
    return "probs" if compact(name).family in ("aggregate", "multiclass") else "logits"


def loss_expr(name: str, variables: str | None = None, *, n: int | None = 3, classes: int = 3, **values):
    r"""SymPy expression of a loss and its symbols.

    Args:
        name: one of :func:`names` (a catalogue id, or ``"id:label"``).
        variables: ``"logits"`` (``z``, with :math:`p = \sigma(z)` or the softmax) or ``"probs"``
            (``p``); default: logits for per-pixel losses, probabilities for aggregates.
        n: number of symbolic pixels of an aggregate; ``None`` gives the compact form in the
            statistics (``I``, ``S_p``, ``S_y``, ...; per class for a multi-class form).
        classes: number of classes of a softmax or multi-class loss.
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
    c = compact(name)
    if c.family == "multiclass":
        if wrt == "logits":
            raise ValueError("the softmax couples the classes: a multi-class pixel_gradient is in probabilities")
        grads = _mc.class_gradients(name, 3)
        return tuple(_tidy(g, "aggregate") for g in grads) if simplify else grads
    if c.family != "aggregate":
        raise ValueError(f"{name!r} is a per-pixel loss; use gradient()")
    # chain rule through the statistics T_k = sum_i h_k(p_i, y_i)
    g = sum(sp.diff(c.expr, sym) * sp.diff(h, _p) for sym, h in c.stats.items())
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
    with :math:`p_i = \sigma(z_i)`.  A multi-class form gives one expression per class
    (:math:`\partial L/\partial p_{ic}`, three classes, probabilities only).

    Example:
        >>> from segmath import symbolic
        >>> symbolic.pixel_gradient("dice", smooth=0)
        -2*(-I + S_p*y + S_y*y)/(S_p + S_y)**2
    """
    _check_variables(wrt, "wrt")
    g = _pixel_gradient(name, wrt, bool(simplify))
    if values:
        params = compact(name).params
        tidy = (lambda e: _tidy(e, "aggregate")) if simplify and wrt == "probs" else (lambda e: e)
        if isinstance(g, tuple):
            return tuple(tidy(_substitute_values(gk, params, values)) for gk in g)
        g = tidy(_substitute_values(g, params, values))
    return g


@functools.lru_cache(maxsize=None)
def _gradient(name, wrt, simplify, n, classes):
    c = compact(name, classes)
    expr, syms = _build(name, wrt, n, classes)
    if c.family == "multiclass":
        return tuple(sp.diff(expr, v) for v in syms.inputs)     # softmax-coupled: left unsimplified
    if c.family == "aggregate" and simplify:
        # the compact chain-rule gradient with the statistics written out as sums over n pixels
        _, syms_p = _build(name, "probs", n, classes)
        p, y = syms_p.inputs, syms_p.targets
        g = _pixel_gradient(name, "probs", True).subs(_summed(c.stats, p, y), simultaneous=True)
        grads = tuple(g.subs({_p: pi, _y: yi}, simultaneous=True) for pi, yi in zip(p, y))
        if wrt == "logits":
            sub = {pi: sigmoid(zi) for pi, zi in zip(p, syms.inputs)}
            grads = tuple((gi * pi * (1 - pi)).subs(sub, simultaneous=True) for gi, pi in zip(grads, p))
        return grads
    grads = tuple(sp.diff(expr, v) for v in syms.inputs)
    if simplify:
        grads = tuple(_tidy(g, c.family) for g in grads)
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
    _check_variables(wrt, "wrt")
    grads = _gradient(name, wrt, bool(simplify), n, classes)
    if values:
        _, syms = _build(name, wrt, n, classes)
        grads = tuple(_substitute_values(g, syms.params, values) for g in grads)
        if simplify and compact(name).family == "pixel":
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
    """The signature's defaults, updated by ``values``; every parameter of the form needs one."""
    out = {**defaults(name), **values}
    missing = set(compact(name, classes).params) - set(out)
    if missing:
        raise ValueError(f"give numeric values for {sorted(missing)} (no numeric default in the signature)")
    return out


def _as_float(x):
    return np.asarray(x, dtype=np.float64)


def _key(values):
    return tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in values.items()))


def lambdify_loss(name: str, variables: str = "logits", *, classes: int = 3, **values) -> Callable:
    """NumPy function ``f(x, y)`` of a loss, parameters fixed (the signature's defaults unless given).

    ``x`` holds logits by default (as :func:`lambdify_gradient`), probabilities with
    ``variables="probs"``.

    * pixel: ``x`` logits (or probabilities), ``y`` targets, any broadcastable shapes;
      returns the elementwise loss;
    * softmax: ``x``, ``y`` of shape ``(..., C)``; returns ``(...)``;
    * aggregates: ``x``, ``y`` of shape ``(..., n)`` (pixels last, any ``n``); returns ``(...)``;
    * multi-class: ``x``, ``y`` of shape ``(..., n, C)``; returns ``(...)``.

    Example:
        >>> import numpy as np
        >>> from segmath import symbolic
        >>> f = symbolic.lambdify_loss("dice", "probs", smooth=0)
        >>> float(f(np.array([1.0, 0.0]), np.array([1.0, 0.0])))
        0.0
    """
    _check_variables(variables)
    return _lambdified("loss", name, variables, classes, _key(_numeric_values(name, values, classes)))


def _stat_functions(name, values):
    """(statistic symbols, NumPy summands) of an aggregate with its parameters fixed."""
    c = compact(name)
    syms = sorted(c.stats, key=lambda s: s.name)
    hs = [_substitute_values(c.stats[s], c.params, {k: v for k, v in values.items() if k in c.params})
          for s in syms]
    return syms, [sp.lambdify((_p, _y), h, modules=_MODULES) for h in hs]


def _aggregate_inputs(x, y, variables):
    """Float ``(p, y)`` for an aggregate's numeric statistics: logits go through the sigmoid first,
    because the statistics are written in probabilities."""
    x, y = _as_float(x), _as_float(y)
    return (_expit(x) if variables == "logits" else x), y


def _stats_numeric(fns, p, y, keepdims):
    shape = np.broadcast_shapes(p.shape, y.shape)
    return [np.broadcast_to(f(p, y), shape).sum(axis=-1, keepdims=keepdims) for f in fns]


@functools.lru_cache(maxsize=None)
def _lambdified(what, name, variables, classes, key):
    """The NumPy loss (``what="loss"``) or gradient (``"gradient"``) of ``name`` with the parameters
    ``key`` fixed; cached, because lambdifying a SymPy expression costs far more than calling it."""
    values = dict(key)
    family = compact(name, classes).family
    if family == "multiclass":
        make = _mc.lambdify_loss if what == "loss" else _mc.lambdify_gradient
        return make(name, variables, classes, values, _MODULES, _substitute_values)
    make = _numeric_loss if what == "loss" else _numeric_gradient
    return make(name, variables, classes, values, family)


def _numeric_loss(name, variables, classes, values, family):
    if family == "aggregate":
        expr, _ = loss_expr(name, "probs", n=None, **values)
        syms, fns = _stat_functions(name, values)
        f = sp.lambdify(syms, expr, modules=_MODULES)

        def loss(x, y):
            p, y = _aggregate_inputs(x, y, variables)
            return f(*_stats_numeric(fns, p, y, keepdims=False))
        return loss
    expr, syms = loss_expr(name, variables, classes=classes, **values)
    f = sp.lambdify(syms.inputs + syms.targets, expr, modules=_MODULES)
    if family == "pixel":
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
    _check_variables(wrt, "wrt")
    return _lambdified("gradient", name, wrt, classes, _key(_numeric_values(name, values, classes)))


def _numeric_gradient(name, wrt, classes, values, family):
    if family == "aggregate":
        g = pixel_gradient(name, "probs", **values)
        syms, fns = _stat_functions(name, values)
        f = sp.lambdify((_p, _y) + tuple(syms), g, modules=_MODULES)

        def grad(x, y):
            p, y = _aggregate_inputs(x, y, wrt)
            out = np.broadcast_to(f(p, y, *_stats_numeric(fns, p, y, keepdims=True)),
                                  np.broadcast_shapes(p.shape, y.shape))
            return out * p * (1 - p) if wrt == "logits" else np.array(out)
        return grad
    grads = gradient(name, wrt, classes=classes, **values)
    _, syms = _build(name, wrt, 3, classes)
    f = sp.lambdify(syms.inputs + syms.targets, list(grads), modules=_MODULES)
    if family == "pixel":
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

