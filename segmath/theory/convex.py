r"""Convex closures: submodularity of the Jaccard loss, the Lovász extension, Lovász-Softmax.

Set functions on a ground set of :math:`p` pixels are tables indexed by bitmask; the convex
closure is computed by linear programming (``scipy.optimize.linprog``) over all :math:`2^p`
vertices, independently of the sorting formula of the Lovász extension.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from ._util import catalogue_fn, finite_difference
from .result import Checker

__all__ = ["jaccard_set_loss", "lovasz_extension", "convex_closure", "verify_jaccard_submodular",
           "verify_lovasz_convex_closure", "verify_lovasz_softmax_vertices"]


def _subsets(p):
    return ((np.arange(2 ** p)[:, None] >> np.arange(p)) & 1).astype(bool)


def jaccard_set_loss(gt_mask, p):
    r"""Table of :math:`\Delta_J(M) = |M| / |G \cup M|` over all :math:`2^p` sets M (bitmask order),
    with :math:`\Delta_J(\emptyset) = 0`."""
    sets = _subsets(p)
    g = np.asarray(gt_mask, bool)
    size, union = sets.sum(1), (sets | g).sum(1)
    return np.where(size > 0, size / np.maximum(union, 1), 0.0)


def _index(mask_bool):
    return int(np.dot(np.asarray(mask_bool, int), 1 << np.arange(len(mask_bool))))


def lovasz_extension(table, m):
    r"""Lovász extension :math:`\bar\Delta(m) = \sum_i m_{\pi_i} [\Delta(S_i) - \Delta(S_{i-1})]`,
    :math:`\pi` sorting m decreasingly, :math:`S_i = \{\pi_1..\pi_i\}`; also returns the gradient
    (the marginal-gain vector)."""
    m = np.asarray(m, dtype=float)
    order = np.argsort(-m, kind="stable")
    idx = np.concatenate([[0], np.cumsum(1 << order)])
    values = np.asarray(table)[idx]
    gains = np.diff(values)
    grad = np.empty_like(m)
    grad[order] = gains
    return float(np.dot(m[order], gains)), grad


def convex_closure(table, m):
    r"""Convex closure :math:`\min\{\sum_S \lambda_S \Delta(S) : \sum_S \lambda_S 1_S = m,\ \sum_S
    \lambda_S = 1,\ \lambda \ge 0\}` by linear programming."""
    p = len(m)
    sets = _subsets(p).astype(float)
    a_eq = np.vstack([sets.T, np.ones(2 ** p)])
    b_eq = np.concatenate([m, [1.0]])
    res = linprog(np.asarray(table), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if not res.success:
        raise RuntimeError(res.message)
    return float(res.fun)


def verify_jaccard_submodular(seed=0, p=6):
    r"""S16: :math:`\Delta_J(M) = |M| / |G \cup M|` is submodular in M for every ground truth G
    (exhaustive: all G, all pairs A, B of subsets of p = 6 pixels)."""
    c = Checker("Jaccard loss |M|/|G u M| is submodular: f(A) + f(B) >= f(A u B) + f(A n B) for all G, A, B "
                "(p = 6)", 1e-12, "S16")
    sets = _subsets(p)
    a = np.arange(2 ** p)
    union, inter = a[:, None] | a[None, :], a[:, None] & a[None, :]
    worst, dice_worst = 0.0, 0.0
    for g in sets:
        f = jaccard_set_loss(g, p)
        worst = max(worst, -np.min(f[:, None] + f[None, :] - f[union] - f[inter]))
        c.count(4 ** p)
        # Dice loss as a set function, for contrast: |M| / (2|G| + |M \ G| - |M n G|)
        size, out, inn = sets.sum(1), (sets & ~g).sum(1), (sets & g).sum(1)
        den = 2 * g.sum() + out - inn
        fd = np.where(size > 0, size / np.maximum(den, 1), 0.0)
        dice_worst = max(dice_worst, -np.min(fd[:, None] + fd[None, :] - fd[union] - fd[inter]))
    c.error("largest violation of submodularity", max(worst, 0.0))
    c.note("largest violation for the Dice loss (not a theorem)", float(max(dice_worst, 0.0)))
    return c.result()


def verify_lovasz_convex_closure(seed=0, p=6, points=20):
    r"""S17: the Lovász extension of the (submodular) Jaccard loss equals its convex closure (LP over all
    :math:`2^6` vertices), equals the loss on vertices and is convex; for a non-submodular function
    it differs from the closure."""
    rng = np.random.default_rng(seed)
    c = Checker("Lovasz extension = LP convex closure (p = 6); equals Delta on vertices; convex; "
                "differs for a supermodular function", 1e-8, "S17")
    sets = _subsets(p)
    for g in (sets[0b001011], sets[0b110000], sets[0b111111 ^ 0b000100]):
        f = jaccard_set_loss(g, p)
        c.count(2 ** p)
        c.error("max |extension - Delta| on vertices",
                max(abs(lovasz_extension(f, s.astype(float))[0] - f[_index(s)]) for s in sets))
        for m in rng.random((points, p)):
            c.count(1)
            c.error("max |Lovasz extension - LP convex closure|", abs(lovasz_extension(f, m)[0] - convex_closure(f, m)))
        u, v, t = rng.random((200, p)), rng.random((200, p)), rng.random((200, 1))
        lhs = [lovasz_extension(f, w)[0] for w in t * u + (1 - t) * v]
        rhs = [ti * lovasz_extension(f, a)[0] + (1 - ti) * lovasz_extension(f, b)[0]
               for ti, a, b in zip(t[:, 0], u, v)]
        c.error("largest violation of convexity", max(0.0, max(np.subtract(lhs, rhs))))
    sup = (sets.sum(1) / p) ** 2                    # supermodular: the extension is not the closure
    gaps = [lovasz_extension(sup, m)[0] - convex_closure(sup, m) for m in rng.random((5, p))]
    c.note("supermodular |S|^2: largest extension - closure", float(max(gaps)))
    c.condition("without submodularity the extension exceeds the closure", max(gaps) > 1e-3)
    return c.result()


def _lovasz_softmax_numpy(prob, labels, classes):
    """Mean over classes present in labels of the Lovász extension of Delta_Jc at m(c) (own NumPy)."""
    losses = []
    for k in range(classes):
        g = labels == k
        if not g.any():
            continue
        m = np.where(g, 1 - prob[k], prob[k])
        order = np.argsort(-m, kind="stable")
        gs = g[order]
        size = np.arange(1, m.size + 1)
        delta = size / (g.sum() + np.cumsum(~gs))     # Delta(S_i) for the prefix sets
        gains = np.diff(np.concatenate([[0.0], delta]))
        losses.append(np.dot(m[order], gains))
    return float(np.mean(losses))


def _level_set_integral(m, g):
    r"""Lovász extension as :math:`\int_0^1 \Delta(\{m \ge t\})\,dt` (Choquet integral; no marginal gains)."""
    levels = np.unique(np.concatenate([[0.0, 1.0], m]))
    total = 0.0
    for lo, hi in zip(levels[:-1], levels[1:]):
        s = m >= hi
        total += (hi - lo) * (s.sum() / (g | s).sum() if s.any() else 0.0)
    return total


def verify_lovasz_softmax_vertices(seed=0, pixels=20, classes=3, maps=200):
    r"""S18: with :math:`m_i(c) = 1 - f_i(c)` if :math:`y_i = c` else :math:`f_i(c)`, Lovász-Softmax equals
    :math:`1 - \mathrm{IoU}_c` at one-hot predictions; its gradient is the marginal-gain vector
    (finite differences of the level-set integral)."""
    rng = np.random.default_rng(seed)
    c = Checker("Lovasz-Softmax = mean over present classes of 1 - IoU_c at one-hot predictions; "
                "gradient = marginal gains", 1e-8, "S18")
    lov = catalogue_fn("lovasz_softmax")
    for _ in range(maps):
        y = rng.integers(0, classes, pixels)
        pred = np.where(rng.random(pixels) < 0.7, y, rng.integers(0, classes, pixels))
        prob = np.eye(classes)[pred].T                         # (C, pixels) one-hot
        ious = [np.sum((pred == k) & (y == k)) / np.sum((pred == k) | (y == k))
                for k in range(classes) if np.any(y == k)]
        expected = 1 - np.mean(ious)
        c.count(1)
        c.error("|own Lovasz-Softmax - (1 - mean IoU)|", abs(_lovasz_softmax_numpy(prob, y, classes) - expected))
        val = float(lov(prob[None].copy(), y[None].copy(), from_logits=False))
        c.error("|catalogue lovasz_softmax - (1 - mean IoU)|", abs(val - expected))
    for _ in range(20):
        g = rng.random(pixels) < 0.3
        g[0] = True
        m = rng.random(pixels)
        order = np.argsort(-m)              # marginal gains of the prefix sets
        delta = np.arange(1, pixels + 1) / (g.sum() + np.cumsum(~g[order]))
        grad = np.empty(pixels)
        grad[order] = np.diff(np.concatenate([[0.0], delta]))
        fd = finite_difference(lambda v: _level_set_integral(v, g), m, h=1e-6)
        c.count(pixels)
        c.error("max |finite differences of the level-set integral - marginal gains|", np.max(np.abs(fd - grad)))
        c.error("|level-set integral - sorted sum|", abs(_level_set_integral(m, g) - np.dot(m, grad)))
    return c.result()
