"""Bayes decisions and calibration: proper losses, weighted CE thresholds, F1/Jaccard-optimal
thresholds, plug-in vs expected F1, focal loss, calibration and volume, ECE bias.

Minimisers are checked against ``scipy.optimize.minimize_scalar`` and thresholds against brute
force (all subsets, or all thresholds by direct sums).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from .closed_forms import (expected_focal_loss, f1_optimal_threshold, focal_minimiser, jaccard_optimal_threshold,
                           weighted_ce_minimiser, weighted_ce_posterior, weighted_ce_threshold)
from .result import Checker

__all__ = ["verify_log_loss_proper", "verify_brier_proper", "verify_weighted_ce_threshold", "verify_f1_threshold",
           "verify_no_fixed_weight_dice_optimal", "verify_plugin_vs_expected_f1", "verify_focal_underconfident",
           "verify_focal_bound", "verify_calibration_unbiased_volume", "verify_ece_binning_bias"]

_EPS = 1e-12


def _argmin(f, lo=_EPS, hi=1 - _EPS):
    return minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}).x


def _log_risk(q, eta, w0=1.0, w1=1.0):
    return -w1 * eta * np.log(q) - w0 * (1 - eta) * np.log1p(-q)


def verify_log_loss_proper(seed=0, n=99):
    r"""S7: :math:`\arg\min_q E_{Y\sim\mathrm{Bern}(\eta)}[-Y\log q - (1-Y)\log(1-q)] = \eta`, strictly;
    thresholding at 1/2 is Bayes-optimal for the 0/1 loss."""
    c = Checker("log-loss is strictly proper (minimiser q* = eta) and 1[eta > 1/2] is Bayes for 0/1 loss", 1e-6, "S7")
    eta = np.linspace(0.01, 0.99, n)
    q_star = np.array([_argmin(lambda q: _log_risk(q, e)) for e in eta])
    c.count(n)
    c.error("max |argmin_q risk - eta|", np.max(np.abs(q_star - eta)))
    q = np.linspace(0.005, 0.995, 199)
    excess = _log_risk(q[None, :], eta[:, None]) - _log_risk(eta, eta)[:, None]
    off = np.abs(q[None, :] - eta[:, None]) > 1e-3
    c.condition("risk(q) > risk(eta) for every q != eta (strictness)", np.all(excess[off] > 0))
    decide_one = (1 - eta) < eta        # expected 0/1 loss: predicting 1 costs 1-eta, 0 costs eta
    c.condition("Bayes 0/1 decision = 1[eta > 1/2]", np.array_equal(decide_one, eta > 0.5))
    return c.result()


def verify_brier_proper(seed=0, n=99):
    r"""The Brier score :math:`E[(q - Y)^2] = (q-\eta)^2 + \eta(1-\eta)` is strictly proper."""
    c = Checker("Brier score is strictly proper: argmin_q E[(q-Y)^2] = eta", 1e-6, "S7")
    eta = np.linspace(0.01, 0.99, n)
    risk = lambda q, e: e * (1 - q) ** 2 + (1 - e) * q ** 2  # noqa: E731
    q_star = np.array([_argmin(lambda q: risk(q, e), 0.0, 1.0) for e in eta])
    c.count(n)
    c.error("max |argmin_q E[(q-Y)^2] - eta|", np.max(np.abs(q_star - eta)))
    q = np.linspace(0, 1, 201)
    c.error("max |risk - ((q-eta)^2 + eta(1-eta))|",
            np.max(np.abs(risk(q[None, :], eta[:, None]) - (q[None, :] - eta[:, None]) ** 2
                          - (eta * (1 - eta))[:, None])))
    return c.result()


def _beta_population(rng, a, b, n):
    return np.clip(rng.beta(a, b, n), 1e-9, 1 - 1e-9)


def verify_weighted_ce_threshold(seed=0, n_weights=12):
    r"""S8: weighted CE is minimised at :math:`q^* = w_1\eta/(w_1\eta + w_0(1-\eta))`, so
    :math:`q^* > 1/2 \iff \eta > w_0/(w_0+w_1)`; with :math:`w_k \propto 1/\pi_k` the rule is
    :math:`\eta > \pi`, the Bayes rule of balanced accuracy (not of Dice)."""
    rng = np.random.default_rng(seed)
    c = Checker("weighted CE minimiser w1 eta / (w1 eta + w0 (1-eta)); decision threshold w0/(w0+w1); "
                "inverse-prior weights give balanced-accuracy Bayes rule eta > pi", 1e-6, "S8")
    eta = np.linspace(0.02, 0.98, 49)
    for w0, w1 in rng.uniform(0.1, 10, (n_weights, 2)):
        q_num = np.array([_argmin(lambda q: _log_risk(q, e, w0, w1)) for e in eta])
        q_cf = weighted_ce_minimiser(eta, w0, w1)
        t = weighted_ce_threshold(w0, w1)
        away = np.abs(eta - t) > 1e-6
        c.count(eta.size)
        c.error("max |numerical minimiser - closed form|", np.max(np.abs(q_num - q_cf)))
        c.condition("q* > 1/2 exactly when eta > w0/(w0+w1)", np.array_equal((q_num > 0.5)[away], (eta > t)[away]))
        c.error("max |eta - w0 q*/(w0 q* + w1(1-q*))| (posterior recovered)",
                np.max(np.abs(weighted_ce_posterior(q_num, w0, w1) - eta)))
    # balanced accuracy: scan every threshold of an imbalanced population
    pop = _beta_population(rng, 0.5, 3.0, 4000)
    pi = pop.mean()
    cand = np.concatenate([[0.0], np.sort(pop)])
    pred = pop[None, :] > cand[:, None]
    tpr = (pred * pop).sum(1) / pop.sum()
    tnr = (~pred * (1 - pop)).sum(1) / (1 - pop).sum()
    ba = 0.5 * (tpr + tnr)
    rule = pop > pi
    ba_rule = 0.5 * ((rule * pop).sum() / pop.sum() + (~rule * (1 - pop)).sum() / (1 - pop).sum())
    c.count(cand.size)
    c.error("|max over thresholds of balanced accuracy - BA(eta > pi)|", abs(ba.max() - ba_rule))
    c.error("|weighted_ce_threshold(1/(1-pi), 1/pi) - pi|", abs(weighted_ce_threshold(1 / (1 - pi), 1 / pi) - pi))
    c.note("pi, F1-optimal threshold", (float(pi), float(f1_optimal_threshold(pop))))
    c.condition("the F1-optimal threshold differs from pi", abs(f1_optimal_threshold(pop) - pi) > 0.02)
    return c.result()


def _subset_scores(eta):
    """Expected-count F1 and Jaccard of every subset of a small population (brute force)."""
    n = eta.size
    s = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)
    tp, k, tot = s @ eta, s.sum(1), eta.sum()
    return s, 2 * tp / (k + tot), tp / (k + tot - tp)


def verify_f1_threshold(seed=0, draws=6, n_small=12, n_large=20000):
    r"""S9: over all classifiers, population F1 is maximised by :math:`\{\eta > F^*/2\}` and Jaccard by
    :math:`\{\eta > J^*/(1+J^*)\}`; the two thresholds coincide because :math:`J^* = F^*/(2 - F^*)`."""
    rng = np.random.default_rng(seed)
    c = Checker("F1-optimal set {eta > F*/2}, Jaccard-optimal {eta > J*/(1+J*)} (all 2^12 subsets); "
                "thresholds coincide", 1e-9, "S9")
    for _ in range(draws):
        eta = rng.beta(0.6, 1.5, n_small)
        s, f1, jac = _subset_scores(eta)
        f_star, j_star = f1.max(), jac.max()
        c.count(2 ** n_small)
        c.condition("F1 maximiser = {eta > F*/2}", np.array_equal(s[np.argmax(f1)], eta > f_star / 2))
        c.condition("Jaccard maximiser = {eta > J*/(1+J*)}",
                    np.array_equal(s[np.argmax(jac)], eta > j_star / (1 + j_star)))
        c.error("|J* - F*/(2-F*)|", abs(j_star - f_star / (2 - f_star)))
        c.error("|f1_optimal_threshold - F*/2| (brute force)", abs(f1_optimal_threshold(eta) - f_star / 2))
        c.error("|jaccard_optimal_threshold - J*/(1+J*)|", abs(jaccard_optimal_threshold(eta) - j_star / (1 + j_star)))
    # a large population: the closed form against a direct scan over a grid of thresholds
    eta = _beta_population(rng, 0.5, 2.0, n_large)
    t = np.linspace(0, 1, 2001)
    pred = eta[None, :] > t[:, None]
    f_grid = 2 * (pred * eta).sum(1) / (pred.sum(1) + eta.sum())
    delta = f1_optimal_threshold(eta)
    f_delta = 2 * eta[eta > delta].sum() / ((eta > delta).sum() + eta.sum())
    c.count(t.size)
    c.condition("F1 at F*/2 >= every grid threshold", f_delta >= f_grid.max() - 1e-12)
    c.error("|F(F*/2)/2 - F*/2|", abs(f_delta / 2 - delta))
    c.error("|F1 threshold - Jaccard threshold|", abs(delta - jaccard_optimal_threshold(eta)))
    c.note("F*, J*, threshold (Beta(0.5, 2) population)",
           (float(2 * delta), float(jaccard_optimal_threshold(eta) / (1 - jaccard_optimal_threshold(eta))),
            float(delta)))
    return c.result()


def _f1_at(eta, t):
    pred = eta[None, :] > np.asarray(t)[:, None]
    return 2 * (pred * eta).sum(1) / (pred.sum(1) + eta.sum())


def verify_no_fixed_weight_dice_optimal(seed=0, n=5000):
    r"""S10: a class weight fixes the threshold at :math:`w_0/(w_0+w_1)`, but the F1-optimal threshold
    :math:`F^*/2` depends on the image: no threshold (weight) is optimal for two different images."""
    rng = np.random.default_rng(seed)
    c = Checker("two images with different eta-distributions: no single threshold w0/(w0+w1) is Dice-optimal "
                "for both", 1e-12, "S10")
    small = _beta_population(rng, 0.3, 6.0, n)       # small, uncertain object
    large = _beta_population(rng, 2.0, 2.0, n)       # large, confident object
    d_small, d_large = f1_optimal_threshold(small), f1_optimal_threshold(large)
    t = np.linspace(0.001, 0.999, 999)
    regret_small = 2 * d_small - _f1_at(small, t)
    regret_large = 2 * d_large - _f1_at(large, t)
    worst = np.maximum(regret_small, regret_large)
    c.count(2 * t.size)
    c.note("optimal thresholds (small, large object)", (float(d_small), float(d_large)))
    c.note("smallest worst-case F1 regret of one threshold", float(worst.min()))
    c.condition("optimal thresholds differ", abs(d_small - d_large) > 0.05)
    c.condition("every fixed weight loses F1 on one image", worst.min() > 1e-3)
    c.error("regret is never negative (F*/2 is optimal)", max(0.0, -regret_small.min(), -regret_large.min()))
    return c.result()


def _expected_f1_table(eta):
    """E[F1(S, Y)] for every prediction S (rows) under independent Y_i ~ Bern(eta_i); F1 = 1 if S = Y = empty."""
    n = eta.size
    v = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)
    prob = np.prod(np.where(v == 1, eta, 1 - eta), axis=1)
    return v, prob


def _expected_f1(preds, v, prob):
    inter = preds @ v.T
    denom = preds.sum(1)[:, None] + v.sum(1)[None, :]
    f1 = np.where(denom > 0, 2 * inter / np.maximum(denom, 1), 1.0)
    return f1 @ prob


def verify_plugin_vs_expected_f1(seed=0, sizes=(4, 6, 8, 10, 12), draws=40):
    r"""S11 (Nan et al. 2012): the prediction maximising expected F1 (DTA) is a top-k set by
    :math:`\eta`; plug-in thresholding (EUM) is worse on small sets, and the gap shrinks as n grows."""
    rng = np.random.default_rng(seed)
    c = Checker("expected-F1 optimum is top-k by eta (all 2^n predictions); plug-in <= DTA; mean gap shrinks "
                "with n", 1e-12, "S11")
    # exhaustive over predictions for n = 8
    for _ in range(5):
        eta = rng.beta(0.5, 1.0, 8)
        v, prob = _expected_f1_table(eta)
        ef1 = _expected_f1(v, v, prob)
        best = v[np.argmax(ef1)]
        k = int(best.sum())
        c.count(2 ** 8)
        c.condition("expected-F1 maximiser over all subsets is a top-k set",
                    np.array_equal(best, (eta >= np.sort(eta)[::-1][k - 1]).astype(float)) if k else True)
    gaps = []
    for n in sizes:
        g = []
        for _ in range(draws):
            eta = rng.beta(0.5, 1.0, n)
            v, prob = _expected_f1_table(eta)
            order = np.argsort(-eta)
            topk = np.zeros((n + 1, n))
            for k in range(1, n + 1):
                topk[k, order[:k]] = 1
            dta = _expected_f1(topk, v, prob).max()
            plugin = (eta > f1_optimal_threshold(eta)).astype(float)[None, :]
            eum = _expected_f1(plugin, v, prob)[0]
            g.append(dta - eum)
            c.count(1)
        g = np.array(g)
        c.error("plug-in above DTA (must be <= 0)", max(0.0, -g.min()))
        gaps.append(float(g.mean()))
    c.note("mean gap E[F1](DTA) - E[F1](plug-in) for n = " + ", ".join(map(str, sizes)), gaps)
    c.condition("gap is positive on small sets", gaps[0] > 1e-3)
    c.condition("gap shrinks from the smallest to the largest n", gaps[-1] < gaps[0] / 2)
    return c.result()


def verify_focal_underconfident(seed=0):
    r"""S12 (Charoenphakdee et al. 2021): the focal-loss minimiser satisfies :math:`q^* \in (1/2, \eta)` for
    :math:`\eta > 1/2` (classification-calibrated, under-confident, not proper); :math:`\gamma = 2`,
    :math:`\eta = 0.9 \to q^* \approx 0.694`; :math:`\gamma = 3 \to 0.647`."""
    c = Checker("focal minimiser matches scipy, lies strictly between 1/2 and eta, is increasing in eta; "
                "gamma=2, eta=0.9 -> 0.694; gamma=3 -> 0.647", 1e-6, "S12")
    eta = np.concatenate([np.linspace(0.02, 0.48, 24), [0.5], np.linspace(0.52, 0.98, 24)])
    for gamma in (0.5, 1.0, 2.0, 3.0, 5.0):
        q_num = np.array([_argmin(lambda q: expected_focal_loss(q, e, gamma), 1e-9, 1 - 1e-9) for e in eta])
        q_cf = focal_minimiser(eta, gamma)
        hi, lo = eta > 0.5, eta < 0.5
        c.count(eta.size)
        c.error("max |focal_minimiser - scipy minimiser|", np.max(np.abs(q_num - q_cf)))
        c.condition("eta > 1/2: 1/2 < q* < eta (under-confident)", np.all((q_cf[hi] > 0.5) & (q_cf[hi] < eta[hi])))
        c.condition("eta < 1/2: eta < q* < 1/2", np.all((q_cf[lo] < 0.5) & (q_cf[lo] > eta[lo])))
        c.condition("q* increasing in eta (eta recoverable)", np.all(np.diff(q_cf) > 0))
    c.error("gamma = 0 is cross-entropy: |q* - eta|", np.max(np.abs(focal_minimiser(eta, 0.0) - eta)))
    c.within("|q*(0.9; gamma=2) - 0.694|", abs(float(focal_minimiser(0.9, 2.0)) - 0.694), 5e-4)
    c.within("|q*(0.9; gamma=3) - 0.647|", abs(float(focal_minimiser(0.9, 3.0)) - 0.647), 5e-4)
    c.note("q*(0.9) for gamma = 2, 3", (float(focal_minimiser(0.9, 2.0)), float(focal_minimiser(0.9, 3.0))))
    return c.result()


def verify_focal_bound(seed=0, n=100000, classes=10):
    r"""S12 (Mukhoti et al. 2020): :math:`L_f = -(1-\hat p_y)^\gamma \log \hat p_y \ge
    \mathrm{KL}(q\|\hat p) - \gamma H(\hat p)` for :math:`\gamma \ge 1` (q the one-hot target)."""
    rng = np.random.default_rng(seed)
    c = Checker("focal loss >= KL(q || p) - gamma H(p) for gamma >= 1 on random softmax outputs", 1e-12, "S12")
    p = rng.dirichlet(np.full(classes, 0.3), n)
    p = np.clip(p, 1e-300, 1)
    y = rng.integers(0, classes, n)
    py = p[np.arange(n), y]
    entropy = -(p * np.log(p)).sum(1)
    kl = -np.log(py)                                   # KL(one-hot || p)
    for gamma in (1.0, 1.5, 2.0, 3.0, 5.0):
        slack = -(1 - py) ** gamma * np.log(py) - (kl - gamma * entropy)
        c.count(n)
        c.error("largest violation of the bound", max(0.0, -slack.min()))
        c.note(f"min slack at gamma={gamma:g}", float(slack.min()))
    slack = -(1 - py) ** 0.5 * np.log(py) - (kl - 0.5 * entropy)
    c.note("min slack at gamma=0.5 (outside the theorem)", float(slack.min()))
    return c.result()


def verify_calibration_unbiased_volume(seed=0, pixels=400, images=4000):
    r"""S13 (Popordanoska et al. 2021): calibration gives :math:`E[\sum_i Y_i] = \sum_i p_i`; the converse
    fails: a convex combination of calibrated predictors keeps the volume but is miscalibrated."""
    rng = np.random.default_rng(seed)
    c = Checker("calibrated maps have unbiased volume (Monte Carlo); miscalibrated ones do not; "
                "volume-unbiased does not imply calibrated", 1e-12, "S13")
    u = np.linspace(-3, 3, pixels)
    eta = 1 / (1 + np.exp(-2.5 * np.sin(u) - 0.5 * u))       # true posteriors of one image
    y = rng.random((images, pixels)) < eta
    vol = y.sum(1)
    se = vol.std() / np.sqrt(images)
    over = eta ** 2                                            # miscalibrated (shrinks positives)
    mix = 0.5 * (eta + eta.mean())                             # mixture of two calibrated predictors
    c.count(images * pixels)
    c.note("volume bias calibrated / squared / mixture (in standard errors)",
           tuple(float((vol.mean() - m.sum()) / se) for m in (eta, over, mix)))
    c.condition("calibrated: |mean volume - sum p| < 4 SE", abs(vol.mean() - eta.sum()) < 4 * se)
    c.condition("miscalibrated: volume bias > 10 SE", abs(vol.mean() - over.sum()) > 10 * se)
    c.error("mixture: |sum p_mix - sum eta| (volume preserved)", abs(mix.sum() - eta.sum()))
    c.condition("mixture: Monte Carlo volume unbiased (< 4 SE)", abs(vol.mean() - mix.sum()) < 4 * se)
    # calibration of the mixture: P(Y=1 | p_mix) = eta (p_mix is injective in eta) != p_mix
    c.note("mixture calibration error E|P(Y=1|p) - p|", float(np.mean(np.abs(eta - mix))))
    c.condition("mixture is miscalibrated", np.mean(np.abs(eta - mix)) > 0.05)
    return c.result()


def verify_ece_binning_bias(seed=0, bins=15, sizes=(100, 1000, 10000), reps=200):
    r"""The binned ECE of a perfectly calibrated predictor, estimated from n samples, is biased upward
    (its true value is 0) and the bias shrinks as n grows."""
    rng = np.random.default_rng(seed)
    c = Checker("binned ECE of a calibrated predictor is > 0 on average and decreases with n", 1e-12, "")
    means = []
    for n in sizes:
        p = rng.random((reps, n))
        y = rng.random((reps, n)) < p
        b = np.minimum((p * bins).astype(int), bins - 1) + bins * np.arange(reps)[:, None]
        sp = np.bincount(b.ravel(), weights=p.ravel(), minlength=reps * bins).reshape(reps, bins)
        sy = np.bincount(b.ravel(), weights=y.ravel(), minlength=reps * bins).reshape(reps, bins)
        ece = np.abs(sy - sp).sum(1) / n                          # sum_b (n_b/n) |mean y - mean p|
        c.count(reps)
        c.condition(f"n={n}: mean ECE more than 4 SE above 0", ece.mean() > 4 * ece.std() / np.sqrt(reps))
        means.append(float(ece.mean()))
    c.note(f"mean ECE ({bins} bins) for n = " + ", ".join(map(str, sizes)), means)
    c.condition("bias decreases with n", all(a > b for a, b in zip(means, means[1:])))
    return c.result()
