"""S25-S29: panoptic quality, matching uniqueness, discriminative-loss geometry, Fathi's similarity.

Each check is brute force on random configurations (sets of pixels, explicit loops), independent of
the code it is about, and also runs the catalogue function on the same cases.
"""
from __future__ import annotations

import numpy as np

from .result import Checker

__all__ = ["verify_pq_sq_rq", "verify_matching_uniqueness", "verify_discriminative_geometry",
           "verify_spatial_embedding_ball", "verify_fathi_similarity"]


def _random_partition(rng, shape, k):
    """A partition of the image into ~k blobs (nearest of k random seeds), labels 1..k."""
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    seeds = rng.uniform(0, max(shape), (k, 2))
    return ((ys[..., None] - seeds[:, 0]) ** 2 + (xs[..., None] - seeds[:, 1]) ** 2).argmin(-1) + 1


def _set_iou(a, b):
    return len(a & b) / len(a | b)


def _segments(cat, ids):
    """{(category, id): set of flat pixel indices}."""
    out = {}
    for i, key in enumerate(zip(cat.ravel().tolist(), ids.ravel().tolist())):
        out.setdefault(key, set()).add(i)
    return out


def verify_pq_sq_rq(seed=0, cases=60):
    r"""S25: per category PQ = SQ x RQ, RQ is the detection F1 :math:`2TP/(2TP+FP+FN)`, and
    :func:`segmath.panoptic_quality` equals a set-based brute force; averaging over categories breaks the
    product (the mean of PQ is not mean SQ x mean RQ), which is why PQ is reported per category first.
    """
    from .. import panoptic_quality
    chk = Checker("PQ = SQ x RQ per category (RQ = detection F1); the class mean breaks the product", 1e-12, "S25")
    rng = np.random.default_rng(seed)
    broke = False
    for _ in range(cases):
        shape = (6, 7)
        t = np.stack([rng.integers(1, 3, shape), _random_partition(rng, shape, 5)])[None]
        p = np.stack([np.where(rng.random(shape) < 0.15, 3 - t[0, 0], t[0, 0]),
                      _random_partition(rng, shape, 5) if rng.random() < 0.3 else t[0, 1]])[None]
        r = panoptic_quality(p, t, things=(1, 2), stuffs=(), average="none")
        gs, ps = _segments(*t[0]), _segments(*p[0])
        for j, c in enumerate((1, 2)):
            g_c = [v for k, v in gs.items() if k[0] == c]
            p_c = [v for k, v in ps.items() if k[0] == c]
            ious = [_set_iou(a, b) for a in p_c for b in g_c]
            matched = [v for v in ious if v > 0.5]
            tp, fp, fn = len(matched), len(p_c) - len(matched), len(g_c) - len(matched)
            if tp + fp + fn == 0:
                chk.condition("left out when TP+FP+FN = 0", np.isnan(r["pq"][j]))
                continue
            pq_b = sum(matched) / (tp + fp / 2 + fn / 2)
            chk.error("|PQ - brute force|", abs(r["pq"][j] - pq_b))
            chk.error("|PQ - SQ x RQ|", abs(r["pq"][j] - r["sq"][j] * r["rq"][j]))
            chk.error("|RQ - 2TP/(2TP+FP+FN)|", abs(r["rq"][j] - 2 * tp / (2 * tp + fp + fn)))
            chk.count(1)
        m = panoptic_quality(p, t, things=(1, 2), stuffs=())
        broke |= abs(float(m["pq"]) - np.nanmean(r["sq"]) * np.nanmean(r["rq"])) > 1e-6
    chk.condition("some class mean differs from mean SQ x mean RQ", broke)
    return chk.result()


def verify_matching_uniqueness(seed=0, cases=150):
    r"""S26 (Kirillov et al. 2019, Theorem 1): for non-overlapping segments, each reference has at most
    one prediction with IoU > ½ and vice versa (:math:`|p\cap g| > \frac12|p\cup g| \ge \frac12|g|`,
    and disjoint predictions cannot both take more than half of ``g``), so greedy and Hungarian
    assignments agree; at IoU = ½ exactly it fails: split ``g`` into two halves.
    """
    from ..instances import match_instances
    chk = Checker("IoU > 1/2 admits at most one partner per segment; at exactly 1/2 two", 0.0, "S26")
    rng = np.random.default_rng(seed)
    worst = 0
    for _ in range(cases):
        shape = (int(rng.integers(3, 8)), int(rng.integers(3, 8)))
        g = _random_partition(rng, shape, int(rng.integers(1, 6)))
        p = g.copy()
        flip = rng.random(shape) < rng.uniform(0, 0.5)
        p[flip] = rng.integers(1, 7, flip.sum())
        gs, ps = _segments(np.zeros_like(g), g), _segments(np.zeros_like(p), p)
        above = np.array([[_set_iou(a, b) > 0.5 for b in gs.values()] for a in ps.values()])
        worst = max(worst, int(above.sum(0).max()), int(above.sum(1).max()))
        greedy = match_instances(p, g, background=None, assignment="greedy")
        hung = match_instances(p, g, background=None, assignment="hungarian")
        chk.condition("greedy = Hungarian above 1/2", np.array_equal(greedy.pairs, hung.pairs))
        chk.condition("matches = admissible pairs", greedy.tp == int(above.sum()))
        chk.count(1)
    chk.note("most partners with IoU > 1/2", worst)
    chk.condition("at most one partner above 1/2", worst <= 1)
    g = np.ones((1, 8), np.int64)
    halves = np.array([[1, 1, 1, 1, 2, 2, 2, 2]])
    iou_half = [_set_iou(set(range(8)), set(range(4 * i, 4 * i + 4))) for i in (0, 1)]
    chk.condition("two halves at IoU exactly 1/2", iou_half == [0.5, 0.5])
    strict = match_instances(halves, g, threshold=0.5)
    loose = match_instances(halves, g, threshold=np.nextafter(0.5, 0))
    chk.condition("strict threshold: no match at 1/2", strict.tp == 0)
    chk.condition("threshold below 1/2: two admissible, one kept", int((loose.scores > 0.4).sum()) == 2 and loose.tp == 1)
    return chk.result()


def verify_discriminative_geometry(seed=0, cases=200):
    r"""S27 (De Brabandere et al. 2017, section 3): when :math:`L_\mathrm{var} = L_\mathrm{dist} = 0` every
    embedding lies within :math:`\delta_v` of its centre and centres are :math:`\ge 2\delta_d` apart; then
    :math:`\delta_d > \delta_v` makes nearest-centre assignment exact and :math:`\delta_d > 2\delta_v` puts
    every intra-instance distance below every inter-instance one.  Both fail just past the bounds.
    """
    from .. import discriminative
    chk = Checker("delta_d > delta_v: nearest centre exact; delta_d > 2 delta_v: intra < inter", 1e-12, "S27")
    rng = np.random.default_rng(seed)
    for _ in range(cases):
        dv = rng.uniform(0.2, 1.0)
        ratio = rng.choice([1.05, 2.05])
        dd = ratio * dv
        k, f = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        centres = [rng.normal(0, 1, f)]
        while len(centres) < k:   # rejection: centres at least 2 dd apart
            c = rng.normal(0, 4 * dd, f)
            if all(np.linalg.norm(c - o) >= 2 * dd for o in centres):
                centres.append(c)
        centres = np.array(centres)
        pts, lab = [], []
        for j in range(k):
            u = rng.normal(size=(6, f))
            u *= (rng.uniform(0, 1, (6, 1)) * dv) / np.linalg.norm(u, axis=1, keepdims=True)
            u -= u.mean(0)                                   # the centre is the mean of its points
            u *= min(1.0, dv / np.linalg.norm(u, axis=1).max())
            pts.append(centres[j] + u)
            lab += [j + 1] * 6
        x = np.concatenate(pts)
        lab = np.array(lab)
        loss = float(discriminative(x.T[None, :, :], lab[None], delta_v=dv, delta_d=dd, gamma=0.0))
        chk.error("discriminative loss on the configuration", loss)
        nearest = np.linalg.norm(x[:, None] - centres[None], axis=2).argmin(1) + 1
        chk.condition("nearest-centre assignment exact", np.array_equal(nearest, lab))
        if ratio > 2:
            dist = np.linalg.norm(x[:, None] - x[None], axis=2)
            same = lab[:, None] == lab[None]
            chk.condition("max intra < min inter", dist[same].max() < dist[~same].min())
        chk.count(1)
    # just past the bounds, on a line: centres 2 dd apart, points at distance dv from their centre
    dv = 1.0
    for dd, claim in ((0.9, "nearest centre fails when delta_d < delta_v"), (1.9, "intra > inter when delta_d < 2 delta_v")):
        a = np.array([0.0, -dv, dv]); b = 2 * dd + np.array([0.0, -dv, dv])
        if claim.startswith("nearest"):
            chk.condition(claim, abs(a[2] - 2 * dd) < abs(a[2] - 0.0))
        else:
            chk.condition(claim, abs(a[2] - a[1]) > abs(b[1] - a[2]))
    return chk.result()


def verify_fathi_similarity(seed=0, cases=400):
    r"""S29 (Fathi et al. 2017): :math:`\sigma(p, q) = 2/(1 + \exp\|e_p - e_q\|^2)` lies in (0, 1], equals 1
    iff :math:`e_p = e_q` and decreases strictly with the distance; :func:`segmath.pairwise_similarity` on two
    pixels of one instance is :math:`-\frac12\log\sigma`, of two instances :math:`-\log(1 - \sigma)`.
    """
    from .. import pairwise_similarity
    chk = Checker("Fathi's sigma: range (0, 1], 1 iff equal, decreasing; the loss is its log-loss", 1e-12, "S29")
    d = np.linspace(0, 6, 2001)
    sig = 2 / (1 + np.exp(d ** 2))
    chk.condition("sigma in (0, 1]", bool(np.all((sig > 0) & (sig <= 1))))
    chk.condition("sigma(0) = 1, sigma < 1 elsewhere", sig[0] == 1 and bool(np.all(sig[1:] < 1)))
    chk.condition("strictly decreasing", bool(np.all(np.diff(sig) < 0)))
    rng = np.random.default_rng(seed)
    for i in range(cases):
        f = int(rng.integers(1, 4))
        e = rng.normal(0, [1e-4, 1.0, 4.0][i % 3], (2, f))      # near, typical and far pairs
        d2 = np.sum((e[0] - e[1]) ** 2)
        s = 2 / (1 + np.exp(d2))
        log1m = np.log1p(-s) if s < 0.5 else np.log(np.tanh(d2 / 2))     # 1 - sigma = tanh(d^2 / 2)
        x = e.T[None, :, None, :]                           # (1, F, 1, 2)
        same = float(pairwise_similarity(x, np.array([[[1, 1]]]), samples="all"))
        apart = float(pairwise_similarity(x, np.array([[[1, 2]]]), samples="all"))
        chk.error("same instance: |L + log(sigma)/2|", abs(same + 0.5 * np.log(s)) / max(1.0, abs(np.log(s))))
        chk.error("two instances: |L + log(1 - sigma)|", abs(apart + log1m) / max(1.0, abs(log1m)))
        chk.count(1)
    return chk.result()


def verify_spatial_embedding_ball(seed=0, steps=120):
    r"""S28 (Neven et al. 2019): :math:`\{\phi > \frac12\}` with :math:`\phi = \exp(-\|e - C\|^2/(2\sigma^2))` is the
    ball of radius :math:`\sigma\sqrt{2\ln 2}`; and in a 1-D toy the bandwidth learned by minimising the
    Lovász hinge of :func:`segmath.spatial_embedding` gives the IoU of the grid-searched best radius.
    """
    import torch

    from .. import spatial_embedding
    chk = Checker("{phi > 1/2} is the ball of radius sigma sqrt(2 ln 2); the Lovasz-learned sigma reaches the "
                  "IoU-optimal radius", 1e-12, "S28")
    rng = np.random.default_rng(seed)
    for _ in range(50):
        sigma, c = rng.uniform(0.2, 3.0), rng.normal(0, 2, 2)
        pts = c + rng.uniform(-4, 4, (2000, 2)) * sigma
        dist = np.linalg.norm(pts - c, axis=1)
        phi = np.exp(-dist ** 2 / (2 * sigma ** 2))
        r = sigma * np.sqrt(2 * np.log(2))
        chk.condition("phi > 1/2 exactly inside the radius", bool(np.array_equal(phi > 0.5, dist < r)))
        chk.error("phi at the radius - 1/2", abs(np.exp(-r ** 2 / (2 * sigma ** 2)) - 0.5))
        chk.count(1)
    # the 1-D toy: one instance on pixels [lo, hi] of a line, zero offsets; learn s only
    n = 40
    lo, hi = int(rng.integers(5, 12)), int(rng.integers(20, 30))
    y = np.zeros((1, n), np.int64); y[0, lo:hi + 1] = 1
    xs = np.arange(n, dtype=float)
    centre = xs[lo:hi + 1].mean()

    def iou(radius):
        pred = np.abs(xs - centre) < radius
        return np.sum(pred & (y[0] == 1)) / np.sum(pred | (y[0] == 1))
    best = max(iou(r) for r in np.linspace(0.1, n, 4000))
    s = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([s], lr=0.1)
    zeros = torch.zeros((1, 1, n), dtype=torch.float64)
    target = torch.from_numpy(y)
    for _ in range(steps):
        x = torch.cat([zeros, s.expand(1, 1, n), zeros], 1)
        loss = spatial_embedding(x, target, w_var=0.0, w_seed=0.0, pixel_size=1.0)
        opt.zero_grad(); loss.backward(); opt.step()
    learned = float(torch.exp(s.detach())) * np.sqrt(2 * np.log(2))
    chk.note("learned radius", learned)
    chk.note("instance half-width", (hi - lo) / 2)
    chk.error("best IoU - learned IoU", best - iou(learned))
    chk.count(1)
    return chk.result()
