"""instance_ap against an independent brute-force COCO AP: interpolated precision as max{p_i : r_i >= r}.

pycocotools itself is the oracle of tests/test_instances_ap_coco.py."""
import numpy as np
import pytest
import torch

import segmath

AREAS = {"all": (0, 1e10), "small": (0, 32 ** 2), "medium": (32 ** 2, 96 ** 2), "large": (96 ** 2, 1e10)}


def iou(a, b):
    u = np.sum(a | b)
    return np.sum(a & b) / u if u else 0.0


def brute_ap(preds, target, t, cat, area=(0, 1e10), max_det=100):
    """COCO AP of one category at one threshold (no crowd), from the definition."""
    lo, hi = area
    rows, n_ref = [], 0
    for pd, gt in zip(preds, target):
        g = [m for m, l in zip(gt["masks"], gt["labels"]) if l == cat]
        g_ign = [not (lo <= m.sum() <= hi) for m in g]
        n_ref += sum(not x for x in g_ign)
        d = [(s, m) for m, s, l in zip(pd["masks"], pd["scores"], pd["labels"]) if l == cat]
        d = sorted(d, key=lambda x: -x[0])[:max_det]       # stable: equal scores keep their order
        free = [True] * len(g)
        for s, m in d:
            # the best free non-ignored reference at IoU >= t, else the best free ignored one
            best = None
            for want_ignored in (False, True):
                cand = [(iou(m, g[j]), j) for j in range(len(g)) if free[j] and g_ign[j] == want_ignored
                        and iou(m, g[j]) >= t]
                if cand:
                    best = max(cand, key=lambda x: (x[0], -x[1]))[1]
                    break
            if best is None:
                rows.append((s, False, not (lo <= m.sum() <= hi)))
            else:
                free[best] = False
                rows.append((s, True, g_ign[best]))
    if n_ref == 0:
        return None
    rows = [r for r in sorted(rows, key=lambda x: -x[0]) if not r[2]]
    tp = np.cumsum([r[1] for r in rows]); fp = np.cumsum([not r[1] for r in rows])
    rec = tp / n_ref if rows else np.zeros(0)
    prec = tp / np.maximum(tp + fp, 1e-300) if rows else np.zeros(0)
    q = [max([p for p, r in zip(prec, rec) if r >= x], default=0.0) for x in np.linspace(0, 1, 101)]
    return float(np.mean(q)), (float(rec[-1]) if rows else 0.0)


def random_case(rng, images=3, size=14, scale=1):
    yy, xx = np.mgrid[:size * scale, :size * scale]
    preds, target = [], []
    for _ in range(images):
        g, gl = [], []
        for _ in range(rng.integers(0, 5)):
            cy, cx = rng.integers(2, size - 2, 2) * scale
            r = rng.integers(1, 5) * scale
            g.append((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)
            gl.append(int(rng.integers(0, 2)))
        d, dl = [], []
        for m, l in zip(g, gl):
            if rng.random() < 0.8:
                d.append(np.roll(m, rng.integers(-2, 3) * scale, axis=1)); dl.append(l)
        for _ in range(rng.integers(0, 3)):
            cy, cx = rng.integers(2, size - 2, 2) * scale
            d.append((yy - cy) ** 2 + (xx - cx) ** 2 <= (2 * scale) ** 2); dl.append(int(rng.integers(0, 2)))
        shape = (0, size * scale, size * scale)
        target.append({"masks": np.array(g, bool).reshape((-1,) + shape[1:]), "labels": np.array(gl, np.int64)})
        preds.append({"masks": np.array(d, bool).reshape((-1,) + shape[1:]),
                      "scores": np.round(rng.random(len(d)), 1), "labels": np.array(dl, np.int64)})
    return preds, target


def brute_summary(preds, target, max_dets=(1, 10, 100)):
    cats = sorted({int(l) for x in preds + target for l in x["labels"]})
    ts = np.linspace(0.5, 0.95, 10)
    out = {}
    for name, area in AREAS.items():
        for m in max_dets:
            vals = [brute_ap(preds, target, t, c, area, m) for t in ts for c in cats]
            vals = [v for v in vals if v is not None]
            out[(name, m)] = ([v[0] for v in vals], [v[1] for v in vals])
    mean = lambda v: float(np.mean(v)) if v else -1.0  # noqa: E731
    at = lambda t: mean([v[0] for c in cats for v in [brute_ap(preds, target, t, c)] if v])  # noqa: E731
    res = {"map": mean(out[("all", 100)][0]), "map_50": at(0.5), "map_75": at(0.75)}
    for name in ("small", "medium", "large"):
        res[f"map_{name}"] = mean(out[(name, 100)][0])
        res[f"mar_{name}"] = mean(out[(name, 100)][1])
    for m in max_dets:
        res[f"mar_{m}"] = mean(out[("all", m)][1])
    return res


@pytest.mark.parametrize("seed", range(8))
def test_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    preds, target = random_case(rng, scale=1 if seed < 5 else 4)
    got = segmath.instance_ap(preds, target)
    ref = brute_summary(preds, target)
    assert set(got) == set(ref)
    for k in ref:
        assert float(got[k]) == pytest.approx(ref[k], abs=1e-12), k


def test_by_hand():
    g = np.zeros((1, 4, 4), bool); g[0, :2] = True
    wrong = np.zeros((1, 4, 4), bool); wrong[0, 3] = True
    preds = [{"masks": np.concatenate([wrong, g]), "scores": np.array([0.9, 0.8]), "labels": np.array([1, 1])}]
    r = segmath.instance_ap(preds, [{"masks": g, "labels": np.array([1])}])
    # ranked: FP then TP -> precision 1/2 at recall 1, so every recall point reads 1/2
    assert float(r["map"]) == pytest.approx(0.5) and float(r["mar_1"]) == 0.0 and float(r["mar_10"]) == 1.0


def test_crowd_absorbs_detections():
    g = np.zeros((2, 6, 6), bool); g[0, :3] = True; g[1, 3:] = True
    d = np.zeros((3, 6, 6), bool); d[0, :3] = True; d[1, 3:, :3] = True; d[2, 3:, 3:] = True
    preds = [{"masks": d, "scores": np.array([0.9, 0.8, 0.7]), "labels": np.array([0, 0, 0])}]
    r = segmath.instance_ap(preds, [{"masks": g, "labels": np.array([0, 0]), "iscrowd": np.array([0, 1])}])
    assert float(r["map"]) == pytest.approx(1.0)     # the two halves on the crowd region are ignored, not false positives


def test_torch_and_bad_input():
    rng = np.random.default_rng(0)
    preds, target = random_case(rng)
    a = segmath.instance_ap(preds, target)
    tp = [{k: torch.from_numpy(v) for k, v in d.items()} for d in preds]
    tt = [{k: torch.from_numpy(v) for k, v in d.items()} for d in target]
    b = segmath.instance_ap(tp, tt)
    assert all(float(a[k]) == float(b[k]) for k in a)
    bad = [dict(preds[0], scores=preds[0]["scores"][:-1] if len(preds[0]["scores"]) else np.ones(1))] + preds[1:]
    with pytest.raises(ValueError, match="scores"):
        segmath.instance_ap(bad, target)
    small = [dict(d, masks=d["masks"][:, :-1]) for d in preds]
    with pytest.raises(ValueError, match="masks"):
        segmath.instance_ap(small, target)
    with pytest.raises(ValueError, match="target"):
        segmath.instance_ap(preds, target[:-1])
