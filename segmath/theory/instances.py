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


def _all_pair_partners(n=5, labels=4, void=None):
    """Every pair of label maps on ``n`` pixels with ids ``0..labels-1`` (0 background), enumerated.

    Returns ``(iou, n_pairs)``: ``iou`` ``(M, M, L, L)`` with ``iou[a, b, i, j]`` the IoU of segment ``i + 1``
    of map ``a`` (prediction) and segment ``j + 1`` of map ``b`` (reference), NaN where a segment is absent.
    With ``void`` (an id of the reference), the reference's void pixels count in no segment and the union
    leaves out the prediction's pixels on them (panopticapi).
    """
    import itertools
    maps = np.array(list(itertools.product(range(labels), repeat=n)), np.int64)       # (M, n)
    onehot = (maps[:, :, None] == np.arange(1, labels)[None, None, :]).astype(np.int16)  # (M, n, L)
    ref = onehot.copy()
    on_void = np.zeros((len(maps), len(maps), labels - 1), np.int16)
    if void is not None:
        ref[:, :, void - 1] = 0
        vmask = (maps == void).astype(np.int16)                                        # reference void
        on_void = np.einsum("anl,bn->abl", onehot, vmask)                               # |p on void of b|
    inter = np.einsum("ani,bnj->abij", onehot, ref)
    pa, ga = onehot.sum(1), ref.sum(1)
    union = pa[:, None, :, None] + ga[None, :, None, :] - inter - on_void[..., None]
    exists = (pa[:, None, :, None] > 0) & (ga[None, :, None, :] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(exists, inter / np.where(union > 0, union, 1), np.nan)
    return iou, len(maps) ** 2


def _segments(cat, ids):
    """{(category, id): set of flat pixel indices}."""
    out = {}
    for i, key in enumerate(zip(cat.ravel().tolist(), ids.ravel().tolist())):
        out.setdefault(key, set()).add(i)
    return out


def verify_pq_sq_rq(seed=0, cases=60):
    r"""S25: per category PQ = SQ x RQ, RQ is the detection F1 :math:`2TP/(2TP+FP+FN)` (also against
    :func:`segmath.instances.detection_f1`), the denominator :math:`TP + \frac12 FP + \frac12 FN` is
    :math:`(|P| + |G|)/2` whatever the matching, and :func:`segmath.panoptic_quality` equals a set-based
    brute force; averaging over categories breaks the product (the mean of PQ is not mean SQ x mean RQ),
    which is why PQ is reported per category first.
    """
    from .. import panoptic_quality
    from ..instances import detection_f1, panoptic_counts
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
            # the denominator does not depend on the matching: TP + FP/2 + FN/2 = (|P| + |G|) / 2
            cnt = panoptic_counts(p, t, things=(1, 2), stuffs=())
            den = cnt["tp"][0, j] + cnt["fp"][0, j] / 2 + cnt["fn"][0, j] / 2
            chk.error("|TP + FP/2 + FN/2 - (|P| + |G|)/2|", abs(den - (len(p_c) + len(g_c)) / 2))
            # RQ is the detection F1 of the category's instances
            ids_p = np.where(p[0, 0] == c, p[0, 1], 0)
            ids_t = np.where(t[0, 0] == c, t[0, 1], 0)
            chk.error("|RQ - detection_f1|", abs(r["rq"][j] - detection_f1(ids_p, ids_t)))
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
    assignments agree; at IoU = ½ exactly it fails: split ``g`` into two halves.  Also the general bound
    (fewer than :math:`1/t` partners above any threshold :math:`t`, reached by equal splits), the same
    with the reference's void left out of the union (panopticapi), exhaustively over every pair of label
    maps on 5 pixels with 3 ids, and the failure for overlapping predictions (AP's setting).
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
    # exhaustive: every pair of label maps on 5 pixels with 3 instance ids (1024 maps, 1048576 pairs)
    iou, n_pairs = _all_pair_partners()
    with np.errstate(invalid="ignore"):
        per_ref = lambda cond: int(np.nansum(cond, axis=2).max())       # noqa: E731 partners of a reference
        per_pred = lambda cond: int(np.nansum(cond, axis=3).max())      # noqa: E731 partners of a prediction
        above, at_least = iou > 0.5, iou >= 0.5
        chk.note("exhaustive pairs of maps (5 pixels, ids 0..3)", n_pairs)
        chk.condition("exhaustive: at most one partner above 1/2", max(per_ref(above), per_pred(above)) == 1)
        chk.condition("exhaustive: two partners at IoU >= 1/2 occur", per_ref(at_least) == 2)
        # the general bound: partners with IoU > t are at most ceil(1/t) - 1 (fewer than 1/t)
        for t in (1 / 3, 1 / 4, 0.3):
            bound = int(np.ceil(1 / t)) - 1
            chk.condition(f"exhaustive: at most ceil(1/t) - 1 = {bound} partners above t = {t:.3g}",
                          max(per_ref(iou > t), per_pred(iou > t)) <= bound)
        chk.condition("exhaustive: three partners above 1/4 occur (the bound is reached)", per_ref(iou > 0.25) == 3)
        viou, _ = _all_pair_partners(void=3)                            # id 3 of the reference is void
        vabove = viou > 0.5
        chk.condition("exhaustive, with void removed from the union: at most one partner above 1/2",
                      max(per_ref(vabove), per_pred(vabove)) == 1)
    # tightness of the general bound: a reference split into k equal parts has k partners of IoU 1/k
    for k in (2, 3, 4, 5):
        g = np.ones((1, 6 * k), np.int64)
        parts = np.repeat(np.arange(1, k + 1), 6)[None]
        m = match_instances(parts, g, threshold=np.nextafter(1 / k, 0), background=None)
        chk.condition(f"k = {k} equal parts: k partners at IoU exactly 1/k", bool(np.allclose(m.scores, 1 / k)))
    # the theorem needs disjoint segments: two overlapping predictions (AP's setting) can both be above 1/2
    ref = set(range(10))
    chk.condition("overlapping predictions: two partners above 1/2",
                  _set_iou(set(range(9)), ref) > 0.5 and _set_iou(set(range(1, 10)), ref) > 0.5)
    return chk.result()


def verify_discriminative_geometry(seed=0, cases=200):
    r"""S27 (De Brabandere et al. 2017, section 3): when :math:`L_\mathrm{var} = L_\mathrm{dist} = 0` every
    embedding lies within :math:`\delta_v` of its centre and centres are :math:`\ge 2\delta_d` apart; then
    :math:`\delta_d > \delta_v` makes nearest-centre assignment exact and :math:`\delta_d > 2\delta_v` puts
    every intra-instance distance below every inter-instance one.  The seed's push-pull balls at zero loss
    (every pixel within :math:`r_A` of its centre and at least :math:`r_R` from every other centre) need
    :math:`r_R > r_A` and :math:`r_R > 3 r_A`.  An exhaustive search over 1-D configurations finds a zero-loss
    counter-example exactly at and past each bound (at :math:`\delta_d = \delta_v` only ties).
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
    # the seed's balls at zero loss, random configurations in 1-3 dimensions (rejection sampling)
    from .. import push_pull_balls
    for i in range(cases // 2):
        ra, ratio = rng.uniform(0.2, 1.0), (1.05, 3.05)[i % 2]
        k, f = int(rng.integers(2, 4)), int(rng.integers(1, 4))
        centres = rng.normal(0, 2 * ratio * ra, (k, f))
        u = rng.normal(size=(k, 5, f))
        u *= rng.uniform(0, 1, (k, 5, 1)) * ra / np.linalg.norm(u, axis=2, keepdims=True)
        u -= u.mean(1, keepdims=True)
        u *= np.minimum(1.0, ra / np.linalg.norm(u, axis=2).max(1))[:, None, None]
        x = (centres[:, None] + u).reshape(-1, f)
        lab = np.repeat(np.arange(1, k + 1), 5)
        d = np.linalg.norm(x[:, None] - centres[None], axis=2)
        if (d[lab[:, None] != np.arange(1, k + 1)[None]] < ratio * ra).any():
            continue                                           # not a zero-loss configuration: rejected
        chk.error("balls loss on the configuration",
                  float(push_pull_balls(x.T[None, :, :], lab[None], r_a=ra, r_r=ratio * ra)))
        chk.condition("balls, r_R > r_A: nearest centre exact", np.array_equal(d.argmin(1) + 1, lab))
        if ratio > 3:
            dist = np.linalg.norm(x[:, None] - x[None], axis=2)
            same = lab[:, None] == lab[None]
            chk.condition("balls, r_R > 3 r_A: max intra < min inter", dist[same].max() < dist[~same].min())
        chk.count(1)
    # the conditions are needed: an exhaustive search over 1-D configurations (two instances of two
    # points on a grid of step 1/4), with delta_v = r_A = 1, finds counter-examples exactly at and past the bounds
    grid = _two_instance_grid()
    for name, radii, near_at, intra_at in (("discriminative", (0.75, 1.0, 1.25, 1.75, 2.0, 2.25, 2.5), 1.0, 2.0),
                                          ("balls", (0.75, 1.0, 1.5, 2.5, 3.0, 3.25, 3.5), 1.0, 3.0)):
        found = {r: _zero_loss_counterexamples(grid, name, 1.0, r) for r in radii}
        chk.condition(f"{name}: nearest-centre failures (a tie counts) found exactly for outer radius <= {near_at}",
                      all((found[r]["nearest"] is not None) == (r <= near_at) for r in radii))
        chk.condition(f"{name}: strict nearest-centre failures exactly below {near_at}",
                      all(found[r]["strict_nearest"] == (r < near_at) for r in radii))
        chk.condition(f"{name}: failures of intra < inter found exactly for outer radius <= {intra_at}",
                      all((found[r]["intra"] is not None) == (r <= intra_at) for r in radii))
        for r in radii:
            for conf in (found[r]["nearest"], found[r]["intra"]):
                if conf is None:
                    continue
                x, lab = np.array(conf)[None, None, :, None], np.array([[1, 1, 2, 2]])[..., None]
                loss = (discriminative(x, lab, delta_v=1.0, delta_d=r, gamma=0.0) if name == "discriminative"
                        else push_pull_balls(x, lab, r_a=1.0, r_r=r))
                chk.error(f"{name}: segmath's loss on the counter-examples found", float(loss))
        chk.note(f"{name}: configurations searched per radius", len(grid[0]))
    return chk.result()


def _two_instance_grid(lo=-2.0, hi=6.0, step=0.25):
    """Every 1-D configuration ``a1 <= a2``, ``b1 <= b2`` of two instances of two points on a grid: (4, M).
    The grid values are exact binary fractions, so every comparison made on them is exact."""
    g = np.arange(lo, hi + step / 2, step)
    a1, a2, b1, b2 = (v.ravel() for v in np.meshgrid(g, g, g, g, indexing="ij"))
    keep = (a1 <= a2) & (b1 <= b2)
    return np.stack([a1[keep], a2[keep], b1[keep], b2[keep]])


def _zero_loss_counterexamples(grid, loss, inner, outer):
    r"""Among the configurations of :func:`_two_instance_grid`, the first with zero loss
    (``"discriminative"``: :math:`|a_i - \mu_A| \le \delta_v` and :math:`|\mu_A - \mu_B| \ge 2\delta_d`;
    ``"balls"``: each point within ``r_A`` of its centre and at least ``r_R`` from the other) that breaks
    nearest-centre assignment (a tie counts) and the first that puts an intra-instance distance at or above
    an inter-instance one (``(a1, a2, b1, b2)`` or ``None``), and whether a strict nearest-centre failure exists.
    """
    a1, a2, b1, b2 = grid
    ma, mb = (a1 + a2) / 2, (b1 + b2) / 2
    own = np.stack([abs(a1 - ma), abs(a2 - ma), abs(b1 - mb), abs(b2 - mb)])
    other = np.stack([abs(a1 - mb), abs(a2 - mb), abs(b1 - ma), abs(b2 - ma)])
    zero = (own <= inner).all(0)
    zero &= (abs(ma - mb) >= 2 * outer) if loss == "discriminative" else (other >= outer).all(0)
    intra = np.maximum(a2 - a1, b2 - b1)
    inter = np.stack([abs(a - b) for a in (a1, a2) for b in (b1, b2)]).min(0)

    def first(bad):
        idx = np.flatnonzero(zero & bad)
        return tuple(float(v) for v in grid[:, idx[0]]) if len(idx) else None
    return {"nearest": first((own >= other).any(0)), "intra": first(intra >= inter),
            "strict_nearest": bool(np.any(zero & (own > other).any(0)))}


def verify_fathi_similarity(seed=0, cases=400):
    r"""S29 (Fathi et al. 2017): :math:`\sigma(p, q) = 2/(1 + \exp\|e_p - e_q\|^2)` lies in (0, 1], equals 1
    iff :math:`e_p = e_q` and decreases strictly with the distance; :func:`segmath.pairwise_similarity` on two
    pixels of one instance is :math:`-\frac12\log\sigma`, of two instances :math:`-\log(1 - \sigma)`; and the
    similarity is calibrated: pairs at one distance of which a share ``p`` lie in one instance have the least
    expected loss where :math:`\sigma = p`, i.e. :math:`d^2 = \ln(2/p - 1)`.
    """
    from .. import pairwise_similarity
    chk = Checker("Fathi's sigma: range (0, 1], 1 iff equal, decreasing; the loss is its log-loss; calibrated",
                  1e-12, "S29")
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
    # calibration: pairs at one common distance d, a share p of them from one instance; the expected
    # log-loss p (-log sigma) + (1 - p)(-log(1 - sigma)) is least where sigma(d) = p, d^2 = ln(2/p - 1)
    import torch
    grid = np.linspace(1e-4, 4, 40001)
    sig_grid = 2 / (1 + np.exp(grid ** 2))
    for share in (0.05, 0.3, 0.5, 0.8, 0.95):
        d_star = np.sqrt(np.log(2 / share - 1))
        risk = -share * np.log(sig_grid) - (1 - share) * np.log1p(-sig_grid)
        chk.error("calibration: |grid minimiser - sqrt(ln(2/p - 1))| - grid step", max(
            0.0, abs(grid[np.argmin(risk)] - d_star) - (grid[1] - grid[0])))
        dist = torch.tensor(d_star, dtype=torch.float64, requires_grad=True)
        x = torch.stack([torch.zeros((), dtype=torch.float64), dist]).reshape(1, 1, 1, 2)
        same = pairwise_similarity(x, torch.tensor([[[1, 1]]]), samples="all")      # -log(sigma) / 2
        apart = pairwise_similarity(x, torch.tensor([[[1, 2]]]), samples="all")     # -log(1 - sigma)
        (2 * share * same + (1 - share) * apart).backward()
        chk.error("calibration: segmath's expected pair loss has zero slope where sigma = p", abs(float(dist.grad)))
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
