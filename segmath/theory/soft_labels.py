r"""Soft labels: Jaccard metric losses (JML) are metrics and soft-label compatible; the Dice
semimetric loss (DML) is not a metric; soft Jaccard/Dice are not zero at :math:`x = y` for soft y.

Notation: :math:`x, y \in [0,1]^p`, :math:`\|\cdot\|_1` the L1 norm (a sum for non-negative vectors).
"""
from __future__ import annotations

import numpy as np

from ._util import catalogue_fn
from .result import Checker

__all__ = ["jml1", "jml2", "dml", "soft_jaccard_loss", "soft_dice_loss", "verify_jml_metric",
           "verify_dml_semimetric", "verify_jml_soft_label_optimum"]


def _parts(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    return x.sum(-1) + y.sum(-1), np.abs(x - y).sum(-1), (x * y).sum(-1)


def jml1(x, y):
    r""":math:`1 - (\|x\|_1 + \|y\|_1 - \|x-y\|_1)/(\|x\|_1 + \|y\|_1 + \|x-y\|_1)` over the last axis."""
    a, l1, _ = _parts(x, y)
    return 1 - (a - l1) / (a + l1)


def jml2(x, y):
    r""":math:`1 - \langle x,y\rangle/(\langle x,y\rangle + \|x-y\|_1)` over the last axis."""
    _, l1, i = _parts(x, y)
    return 1 - i / (i + l1)


def dml(x, y):
    r""":math:`1 - (\|x\|_1 + \|y\|_1 - \|x-y\|_1)/(\|x\|_1 + \|y\|_1)` over the last axis."""
    a, l1, _ = _parts(x, y)
    return 1 - (a - l1) / a


def soft_jaccard_loss(x, y):
    a, _, i = _parts(x, y)
    return 1 - i / (a - i)


def soft_dice_loss(x, y):
    a, _, i = _parts(x, y)
    return 1 - 2 * i / a


def _triples(rng, n, p):
    """Random triples: uniform, hard, sparse and near-coincident points (the hard cases of the triangle)."""
    kinds = [lambda s: rng.random(s), lambda s: (rng.random(s) < 0.5).astype(float),
             lambda s: rng.random(s) * (rng.random(s) < 0.3),
             lambda s: np.clip(0.5 + 0.05 * rng.standard_normal(s), 0, 1)]
    parts = []
    for k in range(len(kinds)):
        parts.append(np.stack([kinds[(k + j) % len(kinds)]((n // len(kinds), p)) for j in range(3)], 0))
    t = np.concatenate(parts, axis=1)
    keep = np.all(t.sum(-1) > 0, axis=0)                 # the losses are 0/0 at x = y = 0
    return t[:, keep]


def verify_jml_metric(seed=0, n=20000, p=4):
    r"""S19 (Wang, Ning & Blaschko 2023): both JMLs equal the soft Jaccard loss for hard y, are metrics
    on :math:`[0,1]^p` (symmetry, zero iff equal, triangle inequality on random triples), whereas
    soft Jaccard is not zero at :math:`x = y` for soft y."""
    rng = np.random.default_rng(seed)
    c = Checker("JML1 = JML2 = soft Jaccard for hard y; both are metrics (triangle on random triples); "
                "soft Jaccard(y, y) > 0 for soft y", 1e-12, "S19")
    x = rng.random((1000, 16))
    y = (rng.random((1000, 16)) < 0.4).astype(float)
    y[:, 0] = 1
    c.count(1000)
    c.error("max |JML1 - soft Jaccard| (hard y)", np.max(np.abs(jml1(x, y) - soft_jaccard_loss(x, y))))
    c.error("max |JML2 - soft Jaccard| (hard y)", np.max(np.abs(jml2(x, y) - soft_jaccard_loss(x, y))))
    a, b, z = _triples(rng, n, p)
    for name, d in (("JML1", jml1), ("JML2", jml2)):
        c.count(a.shape[0])
        c.error(f"{name}: largest triangle violation d(a,c) - d(a,b) - d(b,c)",
                max(0.0, np.max(d(a, z) - d(a, b) - d(b, z))))
        c.error(f"{name}: max |d(a,b) - d(b,a)|", np.max(np.abs(d(a, b) - d(b, a))))
        c.error(f"{name}: max d(a,a)", np.max(np.abs(d(a, a))))
        distinct = np.abs(a - b).sum(-1) > 1e-9
        c.condition(f"{name}: d(a,b) > 0 for a != b", np.all(d(a, b)[distinct] > 0))
    ys = rng.uniform(0.05, 0.95, (100, 16))
    sj = soft_jaccard_loss(ys, ys)
    c.note("soft Jaccard(y, y) for soft y: min, mean", (float(sj.min()), float(sj.mean())))
    c.condition("soft Jaccard(y, y) > 0 for every soft y", np.all(sj > 0.05))
    xs, yt = rng.random((1, 1, 30)), rng.random((1, 1, 30))
    val = float(catalogue_fn("jaccard_metric")(xs, yt, from_logits=False, smooth=0.0))
    c.error("|catalogue jaccard_metric - JML (own formula)|",
            min(abs(val - float(jml1(xs.ravel(), yt.ravel()))), abs(val - float(jml2(xs.ravel(), yt.ravel())))))
    return c.result()


def verify_dml_semimetric(seed=0, n=20000, p=4):
    r"""S20: DML equals the soft Dice loss for hard y, is symmetric and zero iff x = y, but violates the
    triangle inequality (an explicit counterexample and random triples)."""
    rng = np.random.default_rng(seed)
    c = Checker("DML = soft Dice loss for hard y; symmetric, zero iff equal; triangle inequality fails", 1e-12, "S20")
    x = rng.random((1000, 16))
    y = (rng.random((1000, 16)) < 0.4).astype(float)
    y[:, 0] = 1
    c.count(1000)
    c.error("max |DML - soft Dice loss| (hard y)", np.max(np.abs(dml(x, y) - soft_dice_loss(x, y))))
    a, b, z = _triples(rng, n, p)
    c.count(a.shape[0])
    c.error("max |d(a,b) - d(b,a)|", np.max(np.abs(dml(a, b) - dml(b, a))))
    c.error("max d(a,a)", np.max(np.abs(dml(a, a))))
    violation = dml(a, z) - dml(a, b) - dml(b, z)
    c.note("random triples violating the triangle inequality", f"{int(np.sum(violation > 1e-12))} of {a.shape[0]}")
    c.condition("random triples violate the triangle inequality", np.sum(violation > 1e-12) > 0)
    e1, e12, e2 = np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array([0.0, 1.0])
    c.note("counterexample d({1},{2}) vs d({1},{1,2}) + d({1,2},{2})",
           (float(dml(e1, e2)), float(dml(e1, e12) + dml(e12, e2))))
    c.condition("explicit counterexample {1}, {1,2}, {2}", dml(e1, e2) > dml(e1, e12) + dml(e12, e2))
    xs, yt = rng.random((1, 1, 30)), rng.random((1, 1, 30))
    val = float(catalogue_fn("dice_semimetric")(xs, yt, from_logits=False, smooth=0.0))
    c.error("|catalogue dice_semimetric - DML (own formula)|", abs(val - float(dml(xs.ravel(), yt.ravel()))))
    return c.result()


def _grad(name, x, y):
    """Analytic gradients in x (subgradient sign(0) = 0 at x_i = y_i)."""
    s = np.sign(x - y)
    a, l1, i = x.sum() + y.sum(), np.abs(x - y).sum(), np.dot(x, y)
    if name == "JML1":
        num, den = a - l1, a + l1
        return -((1 - s) * den - (1 + s) * num) / den ** 2
    if name == "JML2":
        return -(y * l1 - i * s) / (i + l1) ** 2
    if name == "soft Dice":
        return -(2 * y * a - 2 * i) / a ** 2
    return -(y * (a - i) - i * (1 - y)) / (a - i) ** 2        # soft Jaccard


def _pgd(name, y, x0, steps=1500, lr=0.1, decay=0.995):
    x = x0.copy()
    for k in range(steps):
        x = np.clip(x - lr * decay ** k * _grad(name, x, y), 0.0, 1.0)
    return x


def verify_jml_soft_label_optimum(seed=0, p=10, draws=5):
    r"""S21: projected gradient descent on :math:`\Delta_{JML}(\cdot, \tilde y)` converges to the soft label
    :math:`\tilde y` itself; on soft Dice/Jaccard it converges to a hard mask (S14)."""
    rng = np.random.default_rng(seed)
    c = Checker("PGD on JML(x, y~) recovers x = y~; on soft Dice/Jaccard it ends at a hard mask", 1e-3, "S21")
    for _ in range(draws):
        yt = rng.uniform(0.05, 0.95, p)
        x0 = rng.random(p)
        c.count(1)
        for name, loss in (("JML1", jml1), ("JML2", jml2)):
            x = _pgd(name, yt, x0)
            c.error(f"{name}: max |x_PGD - y~|", np.max(np.abs(x - yt)))
            c.error(f"{name}: loss at x_PGD", loss(x, yt))
        for name, loss in (("soft Dice", soft_dice_loss), ("soft Jaccard", soft_jaccard_loss)):
            x = _pgd(name, yt, x0, steps=3000, lr=1.0, decay=1.0)   # constant step: the optimum is a vertex
            c.error(f"{name}: distance of x_PGD from a hard mask", np.max(np.minimum(x, 1 - x)))
            c.condition(f"{name}: loss at x_PGD below loss at x = y~", loss(x, yt) < loss(yt, yt))
            d_star = 1 - soft_dice_loss(np.round(x), yt)
            if name == "soft Dice":
                c.condition("soft Dice: PGD mask = {y~ > D*/2}", np.array_equal(np.round(x) == 1, yt > d_star / 2))
    return c.result()
