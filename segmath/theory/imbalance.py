"""Checks behind the corrected statements of chapters 2-4: the multi-class mean-Dice rule, label shift,
the balanced Gaussian case, expected soft Dice on hard labels, the binned-ECE bound, the volume bias.

Each check brute-forces the statement (every decision rule, every mask, every label vector, or exact
normal probabilities from SciPy) and does not call the package's closed forms where it can avoid them.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.optimize import linprog
from scipy.stats import norm

from .closed_forms import f1_optimal_threshold
from .result import Checker

__all__ = ["verify_multiclass_dice_affine", "verify_label_shift_balanced_weights", "verify_balanced_gaussian_dice",
           "verify_soft_dice_hard_labels_topk", "verify_ece_bias_bound", "verify_soft_dice_volume_bias"]


def _mean_dice_all_rules(p_x, eta):
    """Population mean-over-classes Dice of every deterministic rule X -> class (rules as rows)."""
    n, C = eta.shape
    rules = np.array(list(itertools.product(range(C), repeat=n)))
    onehot = rules[:, :, None] == np.arange(C)                       # (rules, x, class)
    tp = np.einsum("rxk,x,xk->rk", onehot, p_x, eta)
    size = np.einsum("rxk,x->rk", onehot, p_x)
    prior = p_x @ eta
    return rules, tp, size + prior, (2 * tp / (size + prior)).mean(1)


def _separable(rule, eta, affine):
    """LP: is ``rule`` = argmax_k w_k eta_k (w > 0), or with ``affine`` argmax_k (a_k eta_k - b_k), a > 0,
    with a strict margin?  Returns the best margin (> 0 means realisable)."""
    n, C = eta.shape
    nv = 2 * C + 1 if affine else C + 1
    rows, rhs = [], []
    for x, k in enumerate(rule):
        for j in range(C):
            if j == k:
                continue
            r = np.zeros(nv)
            r[-1] = 1.0                                                 # the margin
            if affine:                                                  # a_j e_j - b_j - a_k e_k + b_k + m <= 0
                r[j], r[k], r[C + j], r[C + k] = eta[x, j], -eta[x, k], -1.0, 1.0
                rhs.append(0.0)
            else:                                                       # log-weights u: u_j - u_k + m <= log(e_k/e_j)
                r[j], r[k] = 1.0, -1.0
                rhs.append(np.log(eta[x, k]) - np.log(eta[x, j]))
            rows.append(r)
    bounds = ([(1.0, 1e4)] * C + [(-1e4, 1e4)] * C if affine else [(-60.0, 60.0)] * C) + [(None, 1.0)]
    res = linprog(-np.eye(nv)[-1], A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    return -res.fun if res.status == 0 else -np.inf


def verify_multiclass_dice_affine(seed=0, draws=60, values=6, classes=3):
    r"""Mean Dice over classes: at an optimal rule every feature value x of mass m with decision k satisfies
    :math:`(2\eta_k - F_k)/(M_k - m) \ge (2\eta_j - F_j)/(M_j + m)` (exact single-switch optimality), which
    for small masses is the affine rule :math:`\arg\max_k (a_k\eta_k - b_k)`, :math:`a_k = 2/M_k`,
    :math:`b_k = F_k/M_k`; the optimum is in general *not* a reweighting :math:`\arg\max_k w_k\eta_k`."""
    rng = np.random.default_rng(seed)
    c = Checker(f"{classes} classes, {values} feature values: exhaustive optimum of mean Dice satisfies the exact "
                "switch condition; some optima are no reweighting argmax w_k eta_k", 1e-12, "")
    not_weight, affine, stationary = 0, 0, 0
    for _ in range(draws):
        p_x = rng.dirichlet(np.ones(values))
        eta = rng.dirichlet(np.full(classes, 0.7), values)
        rules, tp, M, score = _mean_dice_all_rules(p_x, eta)
        b = int(np.argmax(score))
        rule, F, Mb = rules[b], 2 * tp[b] / M[b], M[b]
        c.count(len(rules))
        gain = (2 * eta - F) / (Mb[None, :] + p_x[:, None])            # adding x to class j
        loss = (2 * eta[np.arange(values), rule] - F[rule]) / (Mb[rule] - p_x)   # removing x from its class
        viol = gain - loss[:, None]
        viol[np.arange(values), rule] = -np.inf
        c.error("largest violation of the switch condition at the optimum", max(0.0, viol.max()))
        not_weight += _separable(rule, eta, affine=False) <= 1e-9
        affine += _separable(rule, eta, affine=True) > 1e-9
        stationary += np.array_equal(np.argmax((2 * eta - F) / Mb, axis=1), rule)
    c.note("optima that are no reweighting argmax_k w_k eta_k (w > 0)", f"{not_weight} of {draws}")
    c.note("optima of the affine form argmax_k (a_k eta_k - b_k), a > 0", f"{affine} of {draws}")
    c.note("optima equal to the small-mass rule argmax_k (2 eta_k - F_k)/M_k", f"{stationary} of {draws}")
    c.condition("some optimum is no reweighting of the posteriors", not_weight > 0)
    return c.result()


def _gauss_counts(t, pi, m1, m0=None, s=1.0):
    """TP, FP, FN (as fractions of pixels) of the rule x > t when x | Y=1 ~ N(m1, s), x | Y=0 ~ N(m0, s)."""
    m0 = -m1 if m0 is None else m0
    tp = pi * norm.sf(t, m1, s)
    fp = (1 - pi) * norm.sf(t, m0, s)
    return tp, fp, pi - tp


def _best_score_threshold(score, grid):
    values = score(grid)
    return grid[int(np.argmax(values))], float(values.max())


def verify_label_shift_balanced_weights(seed=0, mu=1.25):
    r"""Under label shift (the classes' score distributions the same in every image, only :math:`\pi`
    changes) the pooled-posterior rule :math:`\bar\eta > \bar\pi` of inverse-frequency weights is
    balanced-accuracy optimal for every prior, while the Dice-optimal rule moves with :math:`\pi`; when the
    class distributions change between images, no pooled rule is balanced-accuracy optimal for both."""
    c = Checker("label shift: eta_pool > pi_pool is balanced-accuracy optimal for every prior; the Dice-optimal "
                "score threshold moves with pi; without label shift a pooled rule fails", 2e-3, "")
    grid = np.linspace(-6, 8, 14001)
    pooled_pi = 0.2
    # pooled posterior: logit = logit(pi_pool) + 2 mu x, so eta_pool > pi_pool  <=>  x > 0
    pooled_rule = 0.0
    dice_t = []
    for pi in (0.5, 0.2, 0.05, 0.01):
        ba = lambda t: 0.5 * (_gauss_counts(t, pi, mu)[0] / pi + 1 - _gauss_counts(t, pi, mu)[1] / (1 - pi))  # noqa: E731,B023
        t_ba, _ = _best_score_threshold(ba, grid)
        dice = lambda t: (lambda tp, fp, fn: 2 * tp / (2 * tp + fp + fn))(*_gauss_counts(t, pi, mu))  # noqa: E731,B023
        t_d, _ = _best_score_threshold(dice, grid)
        dice_t.append(float(t_d))
        c.count(grid.size)
        c.error("|balanced-accuracy optimal threshold - pooled rule (x > 0)|", abs(t_ba - pooled_rule))
    c.note(f"pooled prior {pooled_pi}: Dice-optimal score thresholds for pi = 0.5, 0.2, 0.05, 0.01", dice_t)
    c.condition("Dice-optimal threshold moves with pi (range > 0.5)", max(dice_t) - min(dice_t) > 0.5)
    # no label shift: image B's foreground scores are N(2.5, 1), background N(0, 1); balanced-accuracy optimum is
    # the midpoint of the class means, so images A (midpoint 0) and B (midpoint 1.25) need different rules
    t_a, _ = _best_score_threshold(lambda t: norm.sf(t, mu) + norm.cdf(t, -mu), grid)
    t_b, _ = _best_score_threshold(lambda t: norm.sf(t, 2.5) + norm.cdf(t, 0.0), grid)
    c.note("without label shift: balanced-accuracy thresholds of the two images", (float(t_a), float(t_b)))
    c.condition("without label shift the two images need different rules", abs(t_a - t_b) > 1.0)
    return c.result()


def verify_balanced_gaussian_dice(seed=0):
    r"""Gaussian scores :math:`N(\pm\mu, 1)`: the Dice of the error-counting rule :math:`1[\eta > 1/2]` against the
    best Dice, by exact normal probabilities and a grid over all score thresholds: 0.8944 vs 0.8952 at
    :math:`\pi = 1/2, \mu = 1.25`; 0.083 vs 0.343 at :math:`\pi = 0.1, \mu = 0.5`."""
    c = Checker("Dice of 1[eta > 1/2] vs the best Dice: balanced pi = 1/2 loses almost nothing, pi = 0.1 a lot",
                5e-4, "")
    grid = np.linspace(-8, 8, 160001)
    quoted = {(0.5, 1.25): (0.8944, 0.8952), (0.1, 0.5): (0.0833, 0.3433)}
    for (pi, mu), (q_err, q_best) in quoted.items():
        dice = lambda t: (lambda tp, fp, fn: 2 * tp / (2 * tp + fp + fn))(*_gauss_counts(t, pi, mu))  # noqa: E731,B023
        t_half = (np.log((1 - pi) / pi)) / (2 * mu)       # eta(x) = 1/2  <=>  logit(pi) + 2 mu x = 0
        _, best = _best_score_threshold(dice, grid)
        at_half = float(dice(np.array([t_half]))[0])
        c.count(grid.size)
        c.error(f"pi={pi}, mu={mu}: |Dice(eta > 1/2) - quoted|", abs(at_half - q_err))
        c.error(f"pi={pi}, mu={mu}: |best Dice - quoted|", abs(best - q_best))
        c.note(f"pi={pi}, mu={mu}: Dice of eta > 1/2, best Dice", (at_half, best))
    return c.result()


def _all_labels(n):
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)


def verify_soft_dice_hard_labels_topk(seed=0, n=10, draws=200):
    r"""Trained on hard labels :math:`Y_i\sim\mathrm{Bern}(\eta_i)`, soft Dice maximises the *expected* soft
    Dice; over binary masks its maximiser (all :math:`2^n` masks) is a top-k set (Thm 3.4) and differs from the
    plug-in mask :math:`\{\eta > F^*/2\}` on a fraction of images. Against the soft target :math:`p = \eta` the
    soft Dice is exactly the plug-in objective."""
    rng = np.random.default_rng(seed)
    c = Checker(f"n = {n}: the maximiser of E_Y[soft Dice] over all binary masks is a top-k set; it differs from "
                "the plug-in mask on some images; soft Dice with target p is the plug-in Dice", 1e-12, "")
    v = _all_labels(n)
    inter = v @ v.T
    den = v.sum(1)[:, None] + v.sum(1)[None, :]
    dice = np.where(den > 0, 2 * inter / np.maximum(den, 1), 1.0)      # soft Dice of mask (row) vs labels (col)
    differ = 0
    for _ in range(draws):
        eta = rng.beta(0.5, 1.0, n)
        prob = np.prod(np.where(v == 1, eta, 1 - eta), axis=1)
        expected = dice @ prob
        best = v[int(np.argmax(expected))]
        k = int(best.sum())
        c.count(2 ** n)
        c.condition("maximiser is a top-k set", k == 0 or best[np.argsort(-eta)[:k]].all())
        plugin = (eta > f1_optimal_threshold(eta)).astype(float)
        differ += not np.array_equal(best, plugin)
        x = rng.random(n)                                  # soft target: soft Dice = 2<x,eta>/(|x|+|eta|)
        expected_counts = 2 * (x @ eta) / (x.sum() + eta.sum())
        c.error("|soft Dice(x, eta) - plug-in Dice from expected counts|",
                abs(2 * np.dot(x, eta) / (np.sum(x) + np.sum(eta)) - expected_counts))
    c.note("images where the expected-soft-Dice mask differs from the plug-in mask", f"{differ} of {draws}")
    c.condition("they differ on some images", differ > 0)
    return c.result()


def verify_ece_bias_bound(seed=0, reps=400):
    r"""For calibrated predictions the binned ECE has :math:`E[\widehat{ECE}\mid q] \le \frac12\sqrt{B/n}`
    (Monte Carlo, several B and n); with one pixel per equal-width bin the largest exact expectation is
    :math:`\frac1B\sum_b\max_{q\in\text{bin } b}2q(1-q)` (0.3652 for 15 bins), which reaches 1/2 only for
    B <= 2; exact by enumerating all label vectors."""
    rng = np.random.default_rng(seed)
    c = Checker("E[binned ECE] <= sqrt(B/n)/2 for calibrated predictions; one pixel per bin: exact expectation "
                "by enumeration; best 0.3652 at B = 15, 1/2 only for B <= 2", 1e-12, "")
    worst_ratio = 0.0
    for bins in (5, 15, 50):
        for n in (bins, 4 * bins, 100, 2000):
            q = rng.random(n)
            y = rng.random((reps, n)) < q
            b = np.minimum((q * bins).astype(int), bins - 1)
            onehot = b[:, None] == np.arange(bins)
            ece = np.abs((y - q) @ onehot).sum(1) / n
            se = ece.std() / np.sqrt(reps)
            bound = 0.5 * np.sqrt(bins / n)
            c.count(reps)
            c.condition("mean ECE <= bound + 3 SE", ece.mean() <= bound + 3 * se)
            worst_ratio = max(worst_ratio, ece.mean() / bound)
    c.note("largest mean ECE / bound", worst_ratio)
    best = {}
    for bins in (1, 2, 3, 5, 15):
        edges = np.linspace(0, 1, bins + 1)
        q = np.clip(0.5, edges[:-1], edges[1:])                # the point of each bin closest to 1/2
        best[bins] = float(np.mean(2 * q * (1 - q)))
        if bins <= 5:                                          # exact expectation over all 2^B label vectors
            y = _all_labels(bins)
            prob = np.prod(np.where(y == 1, q, 1 - q), axis=1)
            exact = (np.abs(y - q).sum(1) / bins) @ prob
            c.error("|enumerated E[ECE] - mean 2q(1-q)|", abs(exact - best[bins]))
    c.note("largest E[ECE], one pixel per bin, B = 1, 2, 3, 5, 15", list(best.values()))
    c.error("|B = 15 value - 0.3652|", max(0.0, abs(best[15] - 0.3652) - 5e-5))
    c.condition("1/2 reached only for B <= 2", best[1] == best[2] == 0.5 and max(best[3], best[15]) < 0.5)
    return c.result()


def verify_soft_dice_volume_bias(seed=0):
    r"""Volume bias of soft Dice against a soft target (a blurred disk of radius 9 on 64 x 64): for every blur
    :math:`\sigma \ge 1.75` pixels the Dice-optimal mask :math:`\{p > D^*/2\}` (found by scanning every threshold)
    is larger than the expected volume :math:`\sum_i p_i`, which is larger than the accuracy-optimal mask."""
    c = Checker("blurred disks: |{p > D*/2}| > sum p > |{p > 1/2}| for every blur >= 1.75 px", 1e-12, "")
    yy, xx = np.mgrid[:64, :64]
    disk = (((yy - 32) ** 2 + (xx - 32) ** 2) <= 81).astype(float)
    ratios = []
    for sigma in np.linspace(1.75, 6.0, 10):
        p = gaussian_filter(disk, sigma).ravel()
        srt = np.sort(p)[::-1]
        dice_k = 2 * np.cumsum(srt) / (np.arange(1, p.size + 1) + p.sum())   # every top-k mask
        k_dice = int(np.argmax(dice_k)) + 1
        vol, k_acc = p.sum(), int((p > 0.5).sum())
        c.count(p.size)
        c.condition("Dice-optimal volume > expected volume > accuracy-optimal volume", k_dice > vol > k_acc)
        ratios.append(round(k_dice / vol, 3))
    c.note("Dice-optimal volume / expected volume for blur 1.75 ... 6 px", ratios)
    return c.result()
