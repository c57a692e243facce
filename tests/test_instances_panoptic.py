"""panoptic_quality against torchmetrics, MONAI and a brute-force panopticapi-style count (dicts and loops)."""
import numpy as np
import pytest
import torch

import segmath
from segmath.instances import panoptic_counts


def brute_counts(pred, target, things, stuffs, void=None, crowd=None):
    """panopticapi's pq_compute_single_core, restated with Python dicts over the pixels of one image."""
    def segments(x, is_target):
        seg = {}
        for c, i in zip(x[0].ravel().tolist(), x[1].ravel().tolist()):
            if c == void:
                key = "void"
            else:
                key = (c, 0 if c in stuffs else i)
            seg.setdefault(key, 0)
            seg[key] += 1
        return seg

    def key(c, i):
        return "void" if c == void else (c, 0 if c in stuffs else i)
    pk = [key(c, i) for c, i in zip(pred[0].ravel().tolist(), pred[1].ravel().tolist())]
    tk = [key(c, i) for c, i in zip(target[0].ravel().tolist(), target[1].ravel().tolist())]
    p_area, t_area, inter = {}, {}, {}
    for a, b in zip(pk, tk):
        p_area[a] = p_area.get(a, 0) + 1
        t_area[b] = t_area.get(b, 0) + 1
        inter[(a, b)] = inter.get((a, b), 0) + 1
    is_crowd = {g: g != "void" and crowd is not None and g[0] in things and g[1] == crowd for g in t_area}
    stats = {c: [0, 0, 0, 0.0] for c in sorted(things + stuffs)}
    pm, gm = set(), set()
    for (p, g), n in inter.items():
        if p == "void" or g == "void" or is_crowd[g] or p[0] != g[0]:
            continue
        union = p_area[p] + t_area[g] - n - inter.get((p, "void"), 0)
        if n / union > 0.5:
            stats[g[0]][0] += 1
            stats[g[0]][3] += n / union
            pm.add(p)
            gm.add(g)
    crowd_of = {g[0]: g for g in t_area if is_crowd[g]}
    for g in t_area:
        if g != "void" and g not in gm and not is_crowd[g]:
            stats[g[0]][2] += 1
    for p in p_area:
        if p == "void" or p in pm:
            continue
        ign = inter.get((p, "void"), 0) + (inter.get((p, crowd_of[p[0]]), 0) if p[0] in crowd_of else 0)
        if ign / p_area[p] > 0.5:
            continue
        stats[p[0]][1] += 1
    return stats


def random_panoptic(rng, n=3, shape=(9, 11), things=(1, 2), stuffs=(3, 4), void=None, blocks=3):
    """Blocky random maps: a reference and a perturbed prediction."""
    cats = list(things) + list(stuffs)
    t = np.zeros((n, 2) + shape, np.int64)
    for k in range(n):
        for _ in range(8):
            y0, x0 = rng.integers(0, shape[0] - 1), rng.integers(0, shape[1] - 1)
            h, w = rng.integers(1, blocks + 2), rng.integers(1, blocks + 2)
            t[k, 0, y0:y0 + h, x0:x0 + w] = rng.choice(cats)
            t[k, 1, y0:y0 + h, x0:x0 + w] = rng.integers(0, 4)
    t[:, 0][t[:, 0] == 0] = stuffs[0] if stuffs else things[0]
    p = t.copy()
    flip = rng.random((n,) + shape) < 0.2
    p[:, 0][flip] = rng.choice(cats, flip.sum())
    p[:, 1][flip] = rng.integers(0, 4, flip.sum())
    if void is not None:
        t[:, 0][rng.random((n,) + shape) < 0.1] = void
    return p, t


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("void,crowd", [(None, None), (0, None), (0, 3)])
def test_counts_equal_brute_force(seed, void, crowd):
    rng = np.random.default_rng(seed)
    p, t = random_panoptic(rng, void=void)
    got = panoptic_counts(p, t, things=(1, 2), stuffs=(3, 4), void=void, crowd=crowd)
    for n in range(p.shape[0]):
        ref = brute_counts(p[n], t[n], (1, 2), (3, 4), void, crowd)
        for j, c in enumerate(got["categories"].tolist()):
            tp, fp, fn, s = ref[c]
            assert (got["tp"][n, j], got["fp"][n, j], got["fn"][n, j]) == (tp, fp, fn)
            assert abs(got["iou_sum"][n, j] - s) < 1e-12


def _torchmetrics_pq(p, t, things, stuffs, per_class=False):
    from torchmetrics.detection import PanopticQuality
    m = PanopticQuality(things=set(things), stuffs=set(stuffs), return_sq_and_rq=True, return_per_class=per_class)
    m.update(torch.from_numpy(np.moveaxis(p, 1, -1)), torch.from_numpy(np.moveaxis(t, 1, -1)))
    return m.compute().double().numpy()


@pytest.mark.parametrize("seed", range(8))
def test_torchmetrics_agrees_without_void(seed):
    rng = np.random.default_rng(seed)
    p, t = random_panoptic(rng)
    r = segmath.panoptic_quality(p, t, things=(1, 2), stuffs=(3, 4))
    tm = _torchmetrics_pq(p, t, (1, 2), (3, 4))
    np.testing.assert_allclose([r["pq"], r["sq"], r["rq"]], tm.ravel(), rtol=1e-6, atol=1e-7)
    pc = segmath.panoptic_quality(p, t, things=(1, 2), stuffs=(3, 4), average="none")
    tmc = _torchmetrics_pq(p, t, (1, 2), (3, 4), per_class=True).reshape(-1, 3)
    np.testing.assert_allclose(np.nan_to_num(pc["pq"]), tmc[:, 0], rtol=1e-6, atol=1e-7)


def test_where_torchmetrics_differs_prediction_void():
    """Predicted void inside a reference segment: panopticapi keeps it in the union, torchmetrics removes it."""
    t = np.zeros((1, 2, 1, 10), np.int64)
    t[0, 0] = 1                                 # one thing segment of 10 pixels
    p = t.copy()
    p[0, 0, 0, :4] = 9                          # 4 pixels predicted void (an unknown category in torchmetrics)
    ours = segmath.panoptic_quality(p, t, things=(1,), stuffs=(), void=9)
    assert float(ours["pq"]) == pytest.approx(0.6)          # IoU 6/10 (panopticapi)
    from torchmetrics.detection import PanopticQuality
    m = PanopticQuality(things={1}, stuffs=set(), allow_unknown_preds_category=True)
    m.update(torch.from_numpy(np.moveaxis(p, 1, -1)), torch.from_numpy(np.moveaxis(t, 1, -1)))
    assert float(m.compute()) == pytest.approx(1.0)         # IoU 6/6: the void pixels left the union
    q = p.copy(); q[0, 0, 0, :6] = 9                        # mostly predicted void
    ours = segmath.panoptic_quality(q, t, things=(1,), stuffs=(), void=9)
    assert float(ours["pq"]) == 0.0 and float(ours["rq"]) == 0.0   # panopticapi: a false negative


def test_monai_agrees_on_things():
    """MONAI scores one class at a time from (instance, class) maps, pooled over the batch; no void."""
    from monai.metrics import PanopticQualityMetric
    rng = np.random.default_rng(3)
    p, t = random_panoptic(rng, things=(1, 2), stuffs=())
    for x in (p, t):   # MONAI: instance 0 is background: give every thing pixel a positive id
        x[:, 1] += 1
    ours = segmath.panoptic_quality(p, t, things=(1, 2), stuffs=(), average="none")
    for name, key in (("pq", "pq"), ("sq", "sq"), ("rq", "rq")):
        m = PanopticQualityMetric(num_classes=2, metric_name=name, reduction="mean_batch")
        # MONAI's channel order is (instance, class); ids must be unique across classes within an image
        sw = lambda x: torch.from_numpy(np.stack([x[:, 1] + 100 * x[:, 0], x[:, 0]], 1))  # noqa: E731
        m(sw(p), sw(t))
        np.testing.assert_allclose(m.aggregate().double().numpy(), ours[key], rtol=1e-5, atol=1e-5)


def test_pq_is_sq_times_rq_per_class_not_after_averaging():
    rng = np.random.default_rng(5)
    p, t = random_panoptic(rng)
    c = segmath.panoptic_quality(p, t, things=(1, 2), stuffs=(3, 4), average="none")
    ok = ~np.isnan(c["pq"])
    np.testing.assert_allclose(c["pq"][ok], (c["sq"] * c["rq"])[ok], rtol=1e-12)


def test_image_aggregation_is_mean_of_per_image_values():
    rng = np.random.default_rng(1)
    p, t = random_panoptic(rng)
    per = [float(segmath.panoptic_quality(p[n:n + 1], t[n:n + 1], things=(1, 2), stuffs=(3, 4))["pq"])
           for n in range(3)]
    got = segmath.panoptic_quality(p, t, things=(1, 2), stuffs=(3, 4), aggregate="image")
    assert float(got["pq"]) == pytest.approx(np.mean(per), rel=1e-12)


def test_left_out_classes_and_empty():
    t = np.zeros((1, 2, 3, 3), np.int64); t[0, 0] = 3
    r = segmath.panoptic_quality(t, t, things=(1,), stuffs=(3,), average="none")
    assert np.isnan(r["pq"][0]) and r["pq"][1] == 1.0       # thing 1 absent from both: left out
    assert float(segmath.panoptic_quality(t, t, things=(1,), stuffs=(3,))["pq"]) == 1.0
    v = np.zeros((1, 2, 3, 3), np.int64)                    # all void: nothing to score
    assert np.isnan(float(segmath.panoptic_quality(v, v, things=(1,), stuffs=(3,), void=0)["pq"]))


def test_3d_and_torch():
    rng = np.random.default_rng(2)
    p, t = random_panoptic(rng, shape=(4, 5, 6))
    a = segmath.panoptic_quality(p, t, things=(1, 2), stuffs=(3, 4))
    b = segmath.panoptic_quality(torch.from_numpy(p), torch.from_numpy(t), things=(1, 2), stuffs=(3, 4))
    assert isinstance(b["pq"], torch.Tensor)
    np.testing.assert_allclose(float(a["pq"]), float(b["pq"]), rtol=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    ({"things": (1, 3), "stuffs": (3,)}, "disjoint"),
    ({"things": "ab", "stuffs": ()}, "things"),
    ({"things": (1,), "stuffs": (3,), "void": 1}, "void"),
    ({"things": (1,), "stuffs": ()}, "target"),            # category 3 is neither
])
def test_bad_setup(kwargs, match):
    t = np.zeros((1, 2, 3, 3), np.int64); t[0, 0] = 3; t[0, 0, 0] = 1
    with pytest.raises((ValueError, TypeError), match=match):
        segmath.panoptic_quality(t.copy() * 0 + np.array([1, 0]).reshape(1, 2, 1, 1), t, **kwargs)


def test_negative_ids_rejected():
    t = np.ones((1, 2, 3, 3), np.int64); p = t.copy(); p[0, 1, 0, 0] = -2
    with pytest.raises(ValueError, match="input"):
        segmath.panoptic_quality(p, t, things=(1,), stuffs=())


def test_streaming_state_equals_one_shot_and_merges():
    from segmath.instances import PanopticState
    rng = np.random.default_rng(4)
    p, t = random_panoptic(rng, n=4, void=0)
    setup = dict(things=(1, 2), stuffs=(3, 4), void=0)
    a = PanopticState(**setup).update(p[:1], t[:1]).update(p[1:3], t[1:3])
    b = PanopticState(**setup).update(p[3:], t[3:])
    a.merge(b).sync()
    assert a.images == 4
    for aggregate in ("dataset", "image"):
        for average in ("macro", "none"):
            got = a.compute(aggregate, average)
            ref = segmath.panoptic_quality(p, t, aggregate=aggregate, average=average, **setup)
            for k in ref:
                np.testing.assert_allclose(got[k], ref[k], rtol=1e-12, equal_nan=True)
    with pytest.raises(ValueError, match="setup"):
        a.merge(PanopticState(things=(1, 2), stuffs=(3, 4)))


def _sync_worker(rank, world, out_dir):
    from segmath.instances import PanopticState
    p, t = random_panoptic(np.random.default_rng(6), n=5)
    mine = [0, 2, 4] if rank == 0 else [1, 3]                   # uneven shares of 5 images
    s = PanopticState(things=(1, 2), stuffs=(3, 4)).update(p[mine], t[mine]).sync()
    np.save(f"{out_dir}/rank{rank}.npy", np.array([s.images] + [float(s.compute()[k]) for k in ("pq", "sq", "rq")]))


def test_state_sync_gathers_over_two_processes(tmp_path):
    from oracles.distributed import run_ranks
    run_ranks(_sync_worker, 2, tmp_path)
    p, t = random_panoptic(np.random.default_rng(6), n=5)
    ref = segmath.panoptic_quality(p, t, things=(1, 2), stuffs=(3, 4))
    for rank in range(2):
        got = np.load(tmp_path / f"rank{rank}.npy")
        assert got[0] == 5
        np.testing.assert_allclose(got[1:], [float(ref[k]) for k in ("pq", "sq", "rq")], rtol=1e-12)
