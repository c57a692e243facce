r"""Multi-class region losses (:class:`~segmath.catalogue.Multiclass` forms): the statistics of every
class, the chain rule through them, and the softmax Jacobian.

The compact gradient with respect to :math:`p_{ic}` is one expression per class ``c`` in
:math:`p = p_{ic}`, :math:`y = y_{ic}` and the statistics; with respect to the logits it is
:math:`\partial L/\partial z_{ij} = p_{ij}\,(g_{ij} - \sum_c g_{ic}\, p_{ic})`, applied numerically.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .parse import P, Y, compact


def expanded(name, variables, n, classes):
    """(expr, inputs, targets): the statistics written out over ``n`` pixels and ``classes`` classes;
    inputs ``p_{i,c}`` (or logits ``z_{i,c}``) flattened pixel-major."""
    c = compact(name, classes)
    p = [[sp.Symbol(f"p_{{{i + 1},{k + 1}}}", real=True) for k in range(classes)] for i in range(n)]
    y = [[sp.Symbol(f"y_{{{i + 1},{k + 1}}}", real=True) for k in range(classes)] for i in range(n)]
    sums = {sym: sum(h.subs({P: p[i][c.classes[sym]], Y: y[i][c.classes[sym]]}, simultaneous=True)
                     for i in range(n)) for sym, h in c.stats.items()}
    expr = c.expr.subs(sums, simultaneous=True)
    flat_y = tuple(v for row in y for v in row)
    if variables == "probs":
        return expr, tuple(v for row in p for v in row), flat_y
    z = [[sp.Symbol(f"z_{{{i + 1},{k + 1}}}", real=True) for k in range(classes)] for i in range(n)]
    soft = {p[i][k]: sp.exp(z[i][k]) / sum(sp.exp(zj) for zj in z[i]) for i in range(n) for k in range(classes)}
    return expr.subs(soft, simultaneous=True), tuple(v for row in z for v in row), flat_y


def class_gradients(name, classes):
    """One compact expression per class: dL/dp_{ic} in p, y and the statistics."""
    c = compact(name, classes)
    out = []
    for k in range(classes):
        out.append(sum(sp.diff(c.expr, sym) * sp.diff(h, P) for sym, h in c.stats.items() if c.classes[sym] == k))
    return tuple(out)


def _softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _stats(name, values, classes, modules, substitute):
    c = compact(name, classes)
    syms = sorted(c.stats, key=lambda s: s.name)
    params = {k: v for k, v in values.items() if k in c.params}
    fns = [sp.lambdify((P, Y), substitute(c.stats[s], c.params, params), modules=modules) for s in syms]

    def numeric(p, y, keepdims):
        return [np.broadcast_to(f(p[..., c.classes[s]], y[..., c.classes[s]]), p.shape[:-1])
                .sum(axis=-1, keepdims=keepdims) for s, f in zip(syms, fns)]
    return syms, numeric


def lambdify_loss(name, variables, classes, values, modules, substitute):
    """``f(x, y)``, ``x`` and ``y`` of shape ``(..., n, C)``; returns ``(...)``."""
    c = compact(name, classes)
    syms, numeric = _stats(name, values, classes, modules, substitute)
    f = sp.lambdify(syms, substitute(c.expr, c.params, values), modules=modules)

    def loss(x, y):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        p = _softmax(x) if variables == "logits" else x
        return f(*numeric(p, y, keepdims=False))
    return loss


def lambdify_gradient(name, wrt, classes, values, modules, substitute):
    """``g(x, y)`` of shape ``(..., n, C)``: the class gradients, then the softmax Jacobian."""
    c = compact(name, classes)
    syms, numeric = _stats(name, values, classes, modules, substitute)
    grads = [substitute(g, c.params, values) for g in class_gradients(name, classes)]
    fns = [sp.lambdify((P, Y) + tuple(syms), g, modules=modules) for g in grads]

    def grad(x, y):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        p = _softmax(x) if wrt == "logits" else x
        st = numeric(p, y, keepdims=True)
        g = np.stack([np.broadcast_to(f(p[..., k], y[..., k], *st), p.shape[:-1]) for k, f in enumerate(fns)],
                     axis=-1)
        if wrt == "probs":
            return g
        return p * (g - np.sum(g * p, axis=-1, keepdims=True))
    return grad
