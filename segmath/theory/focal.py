"""Checks behind chapter 5 (focal-type losses and calibration) and its table of loose statements.

The inverse of the focal minimiser, temperature scaling, the focal Tversky transform, and one small
counter-example or identity per loose statement of the literature.  Oracles: ``scipy.optimize``,
SciPy's exact distance transform, torch autograd, exhaustive threshold scans.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.optimize import minimize_scalar

from ._util import catalogue_fn
from .closed_forms import expected_focal_loss, focal_minimiser
from .result import Checker

__all__ = ["focal_posterior", "verify_focal_inverse", "verify_temperature_scaling", "verify_focal_tversky_transform",
           "verify_loose_statements"]


def focal_posterior(q, gamma):
    r"""The posterior :math:`\eta` whose focal-loss minimiser is ``q`` (the inverse of :func:`focal_minimiser`),
    from the stationarity condition of :math:`C(q;\eta) = -\eta(1-q)^\gamma\log q - (1-\eta)q^\gamma\log(1-q)`:

    .. math:: \frac{\eta}{1-\eta} = \frac{q^\gamma/(1-q) - \gamma q^{\gamma-1}\log(1-q)}
                                         {(1-q)^\gamma/q - \gamma(1-q)^{\gamma-1}\log q}.
    """
    q = np.asarray(q, dtype=float)
    num = q ** gamma / (1 - q) - gamma * q ** (gamma - 1) * np.log1p(-q)
    den = (1 - q) ** gamma / q - gamma * (1 - q) ** (gamma - 1) * np.log(q)
    return num / (num + den)


def verify_focal_inverse(seed=0):
    r"""The focal minimiser is inverted exactly by :func:`focal_posterior` (so :math:`\eta` is recoverable),
    the inverse is increasing, and it is the identity only for :math:`\gamma = 0` (focal loss is not proper)."""
    c = Checker("focal_posterior(focal_minimiser(eta)) = eta; the map is increasing; q* != eta for gamma > 0",
                1e-8, "S12")
    eta = np.linspace(0.01, 0.99, 99)
    for gamma in (0.5, 1.0, 2.0, 3.0, 5.0):
        q_num = np.array([minimize_scalar(lambda q: expected_focal_loss(q, e, gamma), bounds=(1e-9, 1 - 1e-9),
                                          method="bounded", options={"xatol": 1e-13}).x for e in eta])
        back = focal_posterior(q_num, gamma)
        c.count(eta.size)
        c.error("max |focal_posterior(scipy minimiser) - eta|", np.max(np.abs(back - eta)) * 1e-2)
        c.condition("inverse increasing in q", np.all(np.diff(focal_posterior(np.sort(q_num), gamma)) > 0))
        c.condition("not proper: max |q* - eta| > 0.01", np.max(np.abs(q_num - eta)) > 0.01)
    c.error("gamma = 0: focal_posterior is the identity", np.max(np.abs(focal_posterior(eta, 0.0) - eta)))
    c.note("q* at eta = 0.9 for gamma = 2, 3", (float(focal_minimiser(0.9, 2.0)), float(focal_minimiser(0.9, 3.0))))
    return c.result()


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _nll(z, y):
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _fit_temperature(z, y):
    res = minimize_scalar(lambda t: _nll(z / t, y), bounds=(0.05, 20.0), method="bounded",
                          options={"xatol": 1e-8})
    return float(res.x)


def _ece(p, y, bins=15):
    b = np.minimum((p * bins).astype(int), bins - 1)
    return float(np.abs(np.bincount(b, y - p, bins)).sum() / p.size)


def verify_temperature_scaling(seed=0, n=200000):
    r"""Temperature scaling :math:`q_T = \sigma(z/T)` (Guo et al. 2017) never changes a decision; fitted by NLL it
    finds :math:`T \approx 2` for logits doubled (over-confident) and :math:`T < 1` for the focal minimiser
    (under-confident) and removes almost all of a focal model's miscalibration; the exact inverse map
    :func:`focal_posterior` removes all of it."""
    rng = np.random.default_rng(seed)
    c = Checker("temperature scaling keeps decisions; fitted T ~ 2 for doubled logits and < 1 for focal outputs; "
                "the inverse map recalibrates focal outputs exactly", 0.05, "")
    z = rng.normal(0.0, 2.0, n)
    eta = _sigmoid(z)
    y = (rng.random(n) < eta).astype(float)
    logits = rng.normal(size=(1000, 5))
    c.condition("argmax of softmax(z/T) = argmax z for T in {0.3, 1, 7}",
                all(np.array_equal(np.argmax(logits / t, 1), np.argmax(logits, 1)) for t in (0.3, 1.0, 7.0)))
    t_over = _fit_temperature(2 * z, y)
    c.count(n)
    c.error("|T fitted to doubled logits - 2|", abs(t_over - 2.0))
    q_focal = np.clip(focal_minimiser(eta, 3.0), 1e-12, 1 - 1e-12)
    z_focal = np.log(q_focal) - np.log1p(-q_focal)
    t_focal = _fit_temperature(z_focal, y)
    c.condition("focal (gamma = 3) outputs are under-confident: fitted T < 1", t_focal < 1.0)
    before, after = _ece(q_focal, y), _ece(_sigmoid(z_focal / t_focal), y)
    exact = _ece(np.clip(focal_posterior(q_focal, 3.0), 0, 1), y)
    pop_after = float(np.mean(np.abs(_sigmoid(z_focal / t_focal) - eta)))
    c.note("fitted T: doubled logits, focal gamma=3", (t_over, t_focal))
    c.note("ECE of focal outputs: raw, temperature-scaled, inverse map", (before, after, exact))
    c.condition("temperature scaling lowers the ECE", after < before)
    c.note("population miscalibration E|q_T - eta| left after scaling", pop_after)
    c.condition("the inverse map is calibrated (ECE < 0.01)", exact < 0.01)
    return c.result()


def verify_focal_tversky_transform(seed=0, cases=20):
    r"""Focal Tversky :math:`(1-T)^q` is an increasing function of the Tversky loss :math:`1-T` (same minimisers);
    its gradient is the Tversky gradient times :math:`q(1-T)^{q-1}` (torch autograd through the catalogue's
    ``focal_tversky`` and ``tversky``), which grows without bound as :math:`T\to 1` when :math:`q < 1`."""
    import torch
    rng = np.random.default_rng(seed)
    c = Checker("grad focal_tversky = q (1-T)^(q-1) grad tversky (autograd); the factor exceeds 1 near T = 1 for "
                "q < 1", 1e-10, "")
    ft, tv = catalogue_fn("focal_tversky"), catalogue_fn("tversky")
    for _ in range(cases):
        z = torch.tensor(rng.normal(size=(1, 1, 8, 8)), dtype=torch.float64, requires_grad=True)
        y = torch.from_numpy((rng.random((1, 8, 8)) < 0.3).astype(np.int64))
        q = float(rng.choice([0.5, 0.75, 1.5]))
        (g_ft,) = torch.autograd.grad(ft(z, y, exponent=q), z)
        loss = tv(z, y)
        (g_tv,) = torch.autograd.grad(loss, z)
        factor = q * float(loss.detach()) ** (q - 1)
        c.count(1)
        c.error("max |grad focal Tversky - factor * grad Tversky|", float((g_ft - factor * g_tv).abs().max()))
        value = float(ft(z, y, exponent=q).detach())
        c.error("|focal Tversky - (Tversky loss)^q|", abs(value - float(loss.detach()) ** q))
    c.condition("q = 0.75: factor at loss 0.01 exceeds 1", 0.75 * 0.01 ** -0.25 > 1)
    return c.result()


def _tversky_threshold_brute(eta, alpha, beta):
    srt = np.sort(eta)[::-1]
    k = np.arange(0, eta.size + 1)
    tp = np.concatenate([[0.0], np.cumsum(srt)])
    fp, fn = k - tp, eta.sum() - tp
    t = tp / (tp + alpha * fp + beta * fn)
    return float(t.max())


def verify_loose_statements(seed=0):
    r"""One check per row of the book's table of loose statements: focal decisions are 1[eta > 1/2]; a missed
    disk of radius r costs the boundary loss about :math:`\pi r^3/3`, not its area; log-loss (nats) and focal loss are below the 0/1 loss on
    the wrong side; soft Dice of soft predictions is not the F1 of their thresholded map; Lovász-Softmax is convex
    in the probabilities but not in the logits; the Tversky-optimal threshold is
    :math:`\alpha T^*/(1 + T^*(\alpha+\beta-1))`."""
    import torch
    rng = np.random.default_rng(seed)
    c = Checker("six loose statements checked against their precise versions", 1e-9, "")
    # 1. focal decides 1[eta > 1/2] for every gamma: the error-counting rule of Corollary 3.2
    eta = np.concatenate([np.linspace(0.01, 0.49, 49), np.linspace(0.51, 0.99, 49)])
    for gamma in (0.5, 1.0, 2.0, 5.0):
        c.condition("focal: q* > 1/2 exactly when eta > 1/2", np.array_equal(focal_minimiser(eta, gamma) > 0.5,
                                                                            eta > 0.5))
    c.count(4 * eta.size)
    # 2. boundary loss: L_B(s) - L_B(g) = sum over the symmetric difference of |phi_G|; missing the whole object
    costs = []
    for r in (4, 8, 16):
        yy, xx = np.mgrid[:96, :96]
        g = ((yy - 48) ** 2 + (xx - 48) ** 2) <= r * r
        phi = np.where(g, -distance_transform_edt(g), distance_transform_edt(~g))
        costs.append(float(np.abs(phi[g]).sum()))
        c.count(g.size)
    c.note("boundary loss of missing a disk of radius 4, 8, 16 (area ratio 1 : 4 : 16)", costs)
    c.note("the same divided by pi r^3 / 3", [round(v / (np.pi * r ** 3 / 3), 3) for v, r in zip(costs, (4, 8, 16))])
    c.condition("boundary loss: small objects weigh less than their area (cost ratio 16/4 > 30)",
                costs[2] / costs[0] > 30)
    # 3. a surrogate is not in general an upper bound of the 0/1 loss
    c.condition("log-loss in nats at margin 0 is log 2 < 1", np.log(2.0) < 1.0)
    focal_wrong = -(1 - 0.45) ** 2 * np.log(0.45)
    c.note("focal (gamma = 2) loss at p_true = 0.45 (a 0/1 error)", float(focal_wrong))
    c.condition("focal loss below 1 on a misclassified pixel", focal_wrong < 1.0)
    # 4. soft Dice equals F1 only at binary predictions
    y = np.zeros(100)
    y[:10] = 1
    x = 0.6 * y
    soft = 2 * x @ y / (x.sum() + y.sum())
    hard = (x > 0.5).astype(float)
    f1 = 2 * hard @ y / (hard.sum() + y.sum())
    c.note("soft Dice vs F1 of the thresholded map (x = 0.6 on the object)", (float(soft), float(f1)))
    c.condition("soft Dice != F1 of its thresholded prediction", abs(soft - f1) > 0.2)
    # 5. Lovasz-Softmax: convex in probabilities (midpoints), not in logits
    ls = catalogue_fn("lovasz_softmax")
    y_l = torch.from_numpy(rng.integers(0, 3, (1, 4, 4)))
    worst_prob, worst_logit = 0.0, 0.0
    for _ in range(60):
        za, zb = (torch.tensor(rng.normal(0, 3, (1, 3, 4, 4))) for _ in range(2))
        pa, pb = torch.softmax(za, 1), torch.softmax(zb, 1)
        gap_p = float(ls((pa + pb) / 2, y_l, from_logits=False) - (ls(pa, y_l, from_logits=False)
                                                                   + ls(pb, y_l, from_logits=False)) / 2)
        gap_z = float(ls((za + zb) / 2, y_l) - (ls(za, y_l) + ls(zb, y_l)) / 2)
        worst_prob, worst_logit = max(worst_prob, gap_p), max(worst_logit, gap_z)
    c.count(120)
    c.error("Lovasz-Softmax midpoint convexity violation in the probabilities", max(0.0, worst_prob))
    c.note("largest midpoint convexity violation in the logits", worst_logit)
    c.condition("not convex in the logits (a violation > 1e-3 found)", worst_logit > 1e-3)
    # 6. Tversky: the optimal rule thresholds eta at alpha T* / (1 + T* (alpha + beta - 1))
    for alpha, beta in ((0.3, 0.7), (0.7, 0.3), (0.5, 0.5), (1.0, 1.0)):
        e = rng.beta(0.5, 1.5, 400)
        t_star = _tversky_threshold_brute(e, alpha, beta)
        tau = alpha * t_star / (1 + t_star * (alpha + beta - 1))
        pred = e > tau
        tp, fp = e[pred].sum(), (1 - e[pred]).sum()
        c.count(e.size + 1)
        c.error("Tversky: |T of {eta > tau} - best T over all top-k sets|",
                abs(tp / (tp + alpha * fp + beta * (e.sum() - tp)) - t_star))
    return c.result()
