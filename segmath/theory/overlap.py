"""Overlap metrics: Dice/Jaccard algebra and bounds, Tversky, aggregation, soft Dice optima and gradients.

Each ``verify_*`` recomputes the metrics from masks by set operations (or from counts), so the
check does not rest on the formula it is checking.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import minimize_scalar

from ._util import catalogue_fn, finite_difference, hard_counts, torch_grad
from .closed_forms import dice_from_jaccard, jaccard_from_dice
from .result import Checker

__all__ = ["verify_dice_jaccard_bijection", "verify_dice_jaccard_bounds", "verify_soft_dice_jaccard_algebra",
           "verify_aggregation_changes_ranking", "verify_tversky_bounds", "verify_no_uniform_ce_weighting",
           "verify_soft_dice_hard_optimum", "verify_soft_dice_gradient_constant", "verify_squared_dice_gradient"]


def _random_mask_pairs(rng, n, size):
    """Pairs (x, y) of masks: independent, perturbed copies, identical and disjoint ones."""
    y = rng.random((n, size)) < rng.uniform(0.05, 0.6, (n, 1))
    x = rng.random((n, size)) < rng.uniform(0.05, 0.6, (n, 1))
    flip = rng.random((n, size)) < rng.uniform(0.0, 0.3, (n, 1))
    half = n // 2
    x[:half] = y[:half] ^ flip[:half]
    x[half:half + 5] = y[half:half + 5]            # J = 1
    x[half + 5:half + 10] = ~y[half + 5:half + 10]  # J = 0
    return x, y


def verify_dice_jaccard_bijection(seed=0, n_masks=600, size=64):
    r"""S1: :math:`D = 2J/(1+J)`, :math:`J = D/(2-D)`, :math:`J \le D` with equality iff
    :math:`J \in \{0, 1\}`, and per image Dice and Jaccard rank predictions identically."""
    rng = np.random.default_rng(seed)
    c = Checker("Dice = 2J/(1+J) and J = D/(2-D) on random masks; J <= D, equal iff J in {0,1}; "
                "same ranking per image", 1e-12, "S1")
    x, y = _random_mask_pairs(rng, n_masks, size)
    tp, fp, fn = hard_counts(x, y)
    inter, union, sizes = (x & y).sum(1), (x | y).sum(1), x.sum(1) + y.sum(1)
    keep = union > 0
    d, j = 2 * inter[keep] / sizes[keep], inter[keep] / union[keep]
    c.count(keep.sum())
    c.error("max |D - 2J/(1+J)|", np.max(np.abs(d - dice_from_jaccard(j))))
    c.error("max |J - D/(2-D)|", np.max(np.abs(j - jaccard_from_dice(d))))
    c.condition("J <= D everywhere", np.all(j <= d + 1e-15))
    equal = np.abs(d - j) < 1e-12
    c.condition("J = D exactly when J in {0, 1}", np.array_equal(equal, (j == 0) | (j == 1)))
    # ranking: several predictions against the same target
    y1 = y[:50]
    preds = [y1 ^ (rng.random(y1.shape) < r) for r in (0.05, 0.1, 0.2, 0.3, 0.5)]
    dj = [(2 * (p & y1).sum(1) / (p.sum(1) + y1.sum(1)), (p & y1).sum(1) / (p | y1).sum(1)) for p in preds]
    same = all(np.array_equal(np.sign(np.round(da - db, 12)), np.sign(np.round(ja - jb, 12)))
               for (da, ja), (db, jb) in itertools.combinations(dj, 2))
    c.count(50 * 10)
    c.condition("Dice and Jaccard order every pair of predictions alike", same)
    return c.result()


def verify_dice_jaccard_bounds(seed=0, max_count=30):
    r"""S2: :math:`\Delta_D \le \Delta_J \le 2\Delta_D` with :math:`\Delta_J/\Delta_D = 1 + J`, factor 2
    tight as :math:`J \to 1`; :math:`0 \le \Delta_J - \Delta_D = J(1-J)/(1+J) \le 3 - 2\sqrt2` at
    :math:`J = \sqrt2 - 1`."""
    c = Checker("Delta_D <= Delta_J <= 2 Delta_D, ratio 1+J; gap J(1-J)/(1+J) <= 3-2sqrt2 at J=sqrt2-1",
                1e-9, "S2")
    k = np.arange(max_count + 1, dtype=float)
    tp, fp, fn = (a.ravel() for a in np.meshgrid(k, k, k, indexing="ij"))
    keep = fp + fn > 0                    # Delta_D > 0
    tp, fp, fn = tp[keep], fp[keep], fn[keep]
    dd = (fp + fn) / (2 * tp + fp + fn)
    j = tp / (tp + fp + fn)
    dj = 1 - j
    c.count(tp.size)
    c.condition("Delta_D <= Delta_J <= 2 Delta_D on all count triples",
                np.all(dd <= dj + 1e-15) and np.all(dj <= 2 * dd + 1e-15))
    c.error("max |Delta_J/Delta_D - (1+J)|", np.max(np.abs(dj / dd - (1 + j))))
    gap = dj - dd
    c.error("max |gap - J(1-J)/(1+J)|", np.max(np.abs(gap - j * (1 - j) / (1 + j))))
    bound = 3 - 2 * np.sqrt(2)
    c.error("excess of the largest gap over 3-2sqrt2", max(0.0, gap.max() - bound))
    c.note("largest gap on counts <= 30", float(gap.max()))
    res = minimize_scalar(lambda t: -(t * (1 - t) / (1 + t)), bounds=(0, 1), method="bounded",
                          options={"xatol": 1e-12})
    c.within("|argmax_J gap - (sqrt2 - 1)| (scalar minimiser)", abs(res.x - (np.sqrt(2) - 1)), 1e-6)
    c.error("|max_J gap - (3 - 2sqrt2)|", abs(-res.fun - bound))
    big = 1e6                                  # TP = 1e6, FP = 1, FN = 0: J -> 1
    ratio = (1 / (big + 1)) / (1 / (2 * big + 1))
    c.within("|Delta_J/Delta_D - 2| at J = 1e6/(1e6+1) (factor 2 is tight)", abs(ratio - 2), 1e-5)
    return c.result()


def verify_soft_dice_jaccard_algebra(seed=0, n=400, size=50):
    r"""S3: soft Dice :math:`2I/S` and soft Jaccard :math:`I/(S-I)` satisfy :math:`D_s = 2J_s/(1+J_s)`,
    inherit the S2 bounds, and equal the hard metrics on binary predictions."""
    rng = np.random.default_rng(seed)
    c = Checker("soft Dice = 2 soft J / (1 + soft J); both equal hard Dice/Jaccard on binary inputs", 1e-12, "S3")
    x = rng.random((n, size)) ** rng.uniform(0.3, 3, (n, 1))
    y = rng.random((n, size)) < rng.uniform(0.05, 0.7, (n, 1))
    inter, s = (x * y).sum(1), x.sum(1) + y.sum(1)
    ds, js = 2 * inter / s, inter / (s - inter)
    c.count(n)
    c.error("max |D_s - 2 J_s / (1 + J_s)|", np.max(np.abs(ds - 2 * js / (1 + js))))
    c.condition("soft Delta_D <= Delta_J <= 2 Delta_D", np.all(1 - ds <= 1 - js + 1e-15) and
                np.all(1 - js <= 2 * (1 - ds) + 1e-15))
    xb = rng.random((n, size)) < 0.4
    ib, sb = (xb * y).sum(1), xb.sum(1) + y.sum(1)
    tp, fp, fn = hard_counts(xb, y)
    c.count(n)
    c.error("max |soft Dice - hard Dice| on binary x", np.max(np.abs(2 * ib / sb - 2 * tp / (2 * tp + fp + fn))))
    c.error("max |soft J - hard J| on binary x", np.max(np.abs(ib / (sb - ib) - tp / (tp + fp + fn))))
    return c.result()


def _iou_dice(pred, gt):
    tp, fp, fn = hard_counts(pred, gt)
    return tp / (tp + fp + fn), 2 * tp / (2 * tp + fp + fn)


def verify_aggregation_changes_ranking(seed=0, n_images=64, trials=4000):
    r"""S4: mean-over-images Dice and IoU can rank two methods differently (a two-image
    counterexample); dataset IoU differs from the mean per-image IoU, and the mean of batch IoUs is
    a biased estimate of dataset IoU whose bias shrinks as the batch grows."""
    rng = np.random.default_rng(seed)
    c = Checker("mean Dice and mean IoU rank methods differently; batch-mean IoU is biased for dataset IoU",
                1e-12, "S4")
    # two images, object of 20 pixels among 100; A finds half of each, B one perfectly and 1/20 of the other
    gt = np.zeros((2, 100), bool)
    gt[:, :20] = True
    a = np.zeros_like(gt)
    a[:, :10] = True
    b = np.zeros_like(gt)
    b[0, :20] = True
    b[1, :1] = True
    iou_a, dice_a = _iou_dice(a, gt)
    iou_b, dice_b = _iou_dice(b, gt)
    c.count(2)
    c.note("mean Dice A, B", (float(dice_a.mean()), float(dice_b.mean())))
    c.note("mean IoU A, B", (float(iou_a.mean()), float(iou_b.mean())))
    c.condition("A better by mean Dice, B better by mean IoU",
                dice_a.mean() > dice_b.mean() and iou_a.mean() < iou_b.mean())
    # a population of images: small objects segmented worse than large ones
    size = rng.integers(2, 400, n_images).astype(float)
    quality = np.clip(0.3 + 0.6 * size / 400 + 0.1 * rng.standard_normal(n_images), 0.05, 0.98)
    tp = np.round(size * quality)
    fn = size - tp
    fp = np.round(rng.uniform(0, 0.3, n_images) * size)
    union = tp + fp + fn
    dataset = tp.sum() / union.sum()
    per_image = np.mean(tp / union)
    i, j = np.triu_indices(n_images, 1)
    pairs = np.mean((tp[i] + tp[j]) / (union[i] + union[j]))     # exact expectation for batches of 2
    biases = [abs(per_image - dataset), abs(pairs - dataset)]
    for bsz in (8, 32):
        idx = np.argsort(rng.random((trials, n_images)), axis=1)[:, :bsz]
        biases.append(abs(np.mean(tp[idx].sum(1) / union[idx].sum(1)) - dataset))
    full = abs(tp.sum() / union.sum() - dataset)
    c.count(n_images + trials * 2)
    c.note("dataset IoU", float(dataset))
    c.note("|E[batch IoU] - dataset IoU| for batch 1, 2, 8, 32", [float(v) for v in biases])
    c.condition("dataset IoU != mean per-image IoU", biases[0] > 1e-3)
    c.condition("bias shrinks as the batch grows", all(u > v for u, v in zip(biases, biases[1:])))
    c.error("bias with the whole dataset as one batch", full)
    return c.result()


def verify_tversky_bounds(seed=0):
    r"""S5: Tversky :math:`T = TP/(TP + \alpha FP + \beta FN)` is Dice at
    :math:`\alpha=\beta=\frac12` and Jaccard at :math:`\alpha=\beta=1`, and
    :math:`\Delta_T/\Delta_D \in [\min(1, 2\min(\alpha,\beta)), \max(1, 2\max(\alpha,\beta))]`,
    with both ends approached."""
    rng = np.random.default_rng(seed)
    c = Checker("Tversky(1/2,1/2) = Dice, Tversky(1,1) = Jaccard; Delta_T/Delta_D within "
                "[min(1, 2 min(a,b)), max(1, 2 max(a,b))], ends approached", 1e-3, "S5")
    x = rng.random((500, 40)) < 0.4
    y = rng.random((500, 40)) < 0.4
    tp, fp, fn = hard_counts(x, y)
    c.count(500)
    c.error("max |T(1/2,1/2) - Dice|", np.max(np.abs(tp / (tp + fp / 2 + fn / 2) - 2 * tp / (2 * tp + fp + fn))))
    c.error("max |T(1,1) - Jaccard|", np.max(np.abs(tp / (tp + fp + fn) - (x & y).sum(1) / (x | y).sum(1))))
    g = np.concatenate([[0.0], np.geomspace(1e-5, 1e5, 41)])
    tp, fp, fn = (a.ravel() for a in np.meshgrid(g[1:], g, g, indexing="ij"))
    keep = fp + fn > 0
    tp, fp, fn = tp[keep], fp[keep], fn[keep]
    dd = (fp + fn) / (2 * tp + fp + fn)
    inside = True
    for alpha, beta in ((0.3, 0.7), (0.7, 0.3), (0.1, 0.9), (1.0, 1.0), (0.5, 0.5), (2.0, 0.5)):
        dt = (alpha * fp + beta * fn) / (tp + alpha * fp + beta * fn)
        r = dt / dd
        lo, hi = min(1.0, 2 * min(alpha, beta)), max(1.0, 2 * max(alpha, beta))
        c.count(r.size)
        inside &= bool(np.all(r >= lo - 1e-12) and np.all(r <= hi + 1e-12))
        c.error(f"alpha={alpha}, beta={beta}: |min ratio - {lo:g}|, |max ratio - {hi:g}|",
                max(abs(r.min() - lo), abs(r.max() - hi)))
    c.condition("every sampled ratio within the bounds", inside)
    # alpha weights false positives: a prediction with FP only
    c.error("FP-only prediction: 1 - T = alpha FP / (TP + alpha FP)",
            abs((1 - 10 / (10 + 0.3 * 4 + 0.7 * 0)) - 0.3 * 4 / (10 + 0.3 * 4)))
    tv = catalogue_fn("tversky")
    inp = np.zeros((1, 1, 20))
    inp[0, 0, :14] = 1.0
    tgt = np.zeros((1, 1, 20))
    tgt[0, 0, :10] = 1.0
    val = float(tv(inp, tgt, alpha=0.3, beta=0.7, from_logits=False, smooth=0.0))
    c.error("catalogue tversky(alpha=0.3 on FP) on TP=10, FP=4", abs(val - 0.3 * 4 / (10 + 0.3 * 4)))
    return c.result()


def verify_no_uniform_ce_weighting(seed=0, sizes=(10, 100, 1000)):
    r"""S6: with one false-positive pixel, :math:`\Delta_J = 1/(|y|+1)` while the weighted Hamming loss is
    :math:`w_0/p`; the ratio varies by the factor :math:`p/2` over foreground sizes whatever the weights."""
    rng = np.random.default_rng(seed)
    c = Checker("no fixed (w0, w1): ratio Delta_J / weighted Hamming varies by p/2 (one FP) or p-1 (one FN)",
                1e-9, "S6")
    spreads = {}
    for p in sizes:
        fg = np.arange(1, p)                            # |y| = 1 .. p-1, foreground first
        y = np.arange(p)[None, :] < fg[:, None]
        x_fp = y.copy()
        x_fp[np.arange(p - 1), fg] = True               # one false positive
        x_fn = y.copy()
        x_fn[np.arange(p - 1), fg - 1] = False          # one false negative
        for w0, w1 in rng.uniform(0.1, 10, (4, 2)):
            for kind, x, expected in (("FP", x_fp, p / 2), ("FN", x_fn, p - 1)):
                tp, fp, fn = hard_counts(x, y)
                dj = (fp + fn) / (tp + fp + fn)
                hamming = np.mean(np.where(y, w1, w0) * (x != y), axis=1)
                ratio = dj / hamming
                spread = ratio.max() / ratio.min()
                c.count(p - 1)
                key = f"p={p}, one {kind}: relative error of the spread vs {expected:g}"
                c.error(key, abs(spread / expected - 1))
                spreads[p] = spread if kind == "FP" else spreads.get(p, spread)
    c.note("spread max/min of Delta_J / Hamming (one FP) per p", [float(spreads[p]) for p in sizes])
    c.condition("the spread grows with p", all(spreads[a] < spreads[b] for a, b in zip(sizes, sizes[1:])))
    return c.result()


def verify_soft_dice_hard_optimum(seed=0, p=12, draws=5, interior=20000):
    r"""S14: :math:`\max_{x \in [0,1]^p} 2\langle x, \tilde y\rangle/(\|x\|_1 + \|\tilde y\|_1)` is attained at
    the hard mask :math:`\{\tilde y_i > D^*/2\}`, not at :math:`x = \tilde y`; the accuracy mask
    :math:`\{\tilde y_i > 1/2\}` is contained in it."""
    rng = np.random.default_rng(seed)
    c = Checker("soft Dice against a soft target is maximised by the hard mask {y > D*/2} (brute force "
                "over 2^p masks); x = y and interior points do worse; {y > 1/2} is inside", 1e-12, "S14")
    verts = ((np.arange(2 ** p)[:, None] >> np.arange(p)) & 1).astype(float)
    for k in range(draws):
        yt = rng.beta(0.7, 0.7, p) if k % 2 else rng.random(p)
        dice = 2 * verts @ yt / (verts.sum(1) + yt.sum())
        best = dice.max()
        winners = np.flatnonzero(dice >= best - 1e-12)
        rule = (yt > best / 2).astype(float)
        d_rule = 2 * rule @ yt / (rule.sum() + yt.sum())
        xs = rng.random((interior, p))
        d_int = 2 * xs @ yt / (xs.sum(1) + yt.sum())
        d_soft = 2 * yt @ yt / (2 * yt.sum())
        c.count(2 ** p + interior)
        c.error(f"draw {k}: |D(threshold rule) - D*|", abs(d_rule - best))
        c.condition(f"draw {k}: the unique maximiser is the rule mask",
                    winners.size == 1 and np.array_equal(verts[winners[0]], rule))
        c.condition(f"draw {k}: interior points and x = y stay below D*",
                    d_int.max() < best and d_soft < best)
        c.condition(f"draw {k}: {{y > 1/2}} inside the Dice mask", np.all(rule >= (yt > 0.5)))
    return c.result()


def _soft_dice(x, y):
    return 2 * np.dot(x, y) / (x.sum() + y.sum())


def verify_soft_dice_gradient_constant(seed=0, p=40):
    r"""S15: :math:`\partial D_s/\partial x_i = 2(y_i S - I)/S^2`: one value on the foreground, one on the
    background, magnitude ratio :math:`(S - I)/I`; cross-entropy's :math:`x_i - y_i` is not constant."""
    rng = np.random.default_rng(seed)
    c = Checker("soft Dice gradient 2(y_i S - I)/S^2 (finite differences), constant per class, "
                "fg/bg ratio (S-I)/I", 1e-7, "S15")
    worst = 0.0
    for _ in range(5):
        x = rng.uniform(0.05, 0.95, p)
        y = (rng.random(p) < rng.uniform(0.05, 0.5)).astype(float)
        y[0], y[1] = 1.0, 0.0
        inter, s = np.dot(x, y), x.sum() + y.sum()
        formula = 2 * (y * s - inter) / s ** 2
        fd = finite_difference(lambda v: _soft_dice(v, y), x)
        worst = max(worst, np.max(np.abs(fd - formula)))
        g_fg, g_bg = fd[y == 1], fd[y == 0]
        c.count(p)
        c.error("spread of the gradient within a class", max(np.ptp(g_fg), np.ptp(g_bg)))
        c.within("| |g_fg|/|g_bg| - (S-I)/I | (finite differences)",
                 abs(abs(g_fg.mean() / g_bg.mean()) - (s - inter) / inter), 1e-5)
        ce = x - y                                    # BCE gradient wrt logits at probability x
        c.condition("cross-entropy gradient varies within a class", np.ptp(ce[y == 0]) > 1e-3)
        _, g = torch_grad(catalogue_fn("dice"), x[None, None, :], y[None, None, :], from_logits=False, smooth=0.0)
        c.error("catalogue dice: |autograd + formula|", np.max(np.abs(g.ravel() + formula)))
    c.error("max |finite differences - 2(y S - I)/S^2|", worst)
    return c.result()


def verify_squared_dice_gradient(seed=0, p=30):
    r"""S15 (V-Net): :math:`\partial D/\partial p_j = 2[g_j(\sum p^2 + \sum g^2) - 2 p_j \sum p g] /
    (\sum p^2 + \sum g^2)^2` for :math:`D = 2\sum pg / (\sum p^2 + \sum g^2)`."""
    rng = np.random.default_rng(seed)
    c = Checker("V-Net squared Dice gradient formula agrees with finite differences", 1e-7, "S15")
    sq = catalogue_fn("squared_dice")
    for _ in range(5):
        x = rng.uniform(0.05, 0.95, p)
        g = (rng.random(p) < 0.3).astype(float)
        a = (x ** 2).sum() + (g ** 2).sum()
        formula = 2 * (g * a - 2 * x * np.dot(x, g)) / a ** 2
        fd = finite_difference(lambda v: 2 * np.dot(v, g) / ((v ** 2).sum() + (g ** 2).sum()), x)
        c.count(p)
        c.error("max |finite differences - formula|", np.max(np.abs(fd - formula)))
        _, gr = torch_grad(sq, x[None, None, :], g[None, None, :], from_logits=False, smooth=0.0)
        c.error("catalogue squared_dice: |autograd + formula|", np.max(np.abs(gr.ravel() + formula)))
    return c.result()
