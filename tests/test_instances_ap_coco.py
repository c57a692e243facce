"""instance_ap against pycocotools' COCOeval (iouType="segm"): the reference implementation of COCO mask AP."""
import numpy as np
import pytest

import segmath
from oracles.coco import coco_eval

KEYS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large",
        "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]   # COCOeval.stats order


def random_scene(rng, size, crowd):
    """Reference blobs (rectangles and disks, categories 1-3, some crowd) and perturbed, scored detections."""
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    g_masks, g_labels, g_crowd = [], [], []
    for _ in range(rng.integers(0, 6)):
        if rng.random() < 0.5:
            y0, x0 = rng.integers(0, h - 4), rng.integers(0, w - 4)
            m = (yy >= y0) & (yy < y0 + rng.integers(3, h // 2)) & (xx >= x0) & (xx < x0 + rng.integers(3, w // 2))
        else:
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.uniform(2, h / 3)
            m = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        g_masks.append(m)
        g_labels.append(int(rng.integers(1, 4)))
        g_crowd.append(bool(crowd and rng.random() < 0.15))
    d_masks, d_labels, d_scores = [], [], []
    for m, c in zip(g_masks, g_labels):
        for _ in range(rng.integers(0, 3)):                  # 0-2 detections per object, some shifted
            dy, dx = rng.integers(-3, 4, 2)
            d = np.roll(m, (dy, dx), axis=(0, 1)) ^ (rng.random(m.shape) < 0.03)
            d_masks.append(d)
            d_labels.append(c if rng.random() < 0.85 else int(rng.integers(1, 4)))
    for _ in range(rng.integers(0, 3)):                      # false positives
        y0, x0 = rng.integers(0, h - 6), rng.integers(0, w - 6)
        d = np.zeros((h, w), bool)
        d[y0:y0 + 6, x0:x0 + 6] = True
        d_masks.append(d)
        d_labels.append(int(rng.integers(1, 4)))
    d_scores = list(rng.random(len(d_masks)))
    stack = lambda ms: np.stack(ms) if ms else np.zeros((0, h, w), bool)  # noqa: E731
    pred = {"masks": stack(d_masks), "scores": np.array(d_scores, float), "labels": np.array(d_labels, int)}
    ref = {"masks": stack(g_masks), "labels": np.array(g_labels, int), "iscrowd": np.array(g_crowd, bool)}
    return pred, ref


def precision_mean(ev, area=0, det=-1):
    """AP straight from COCOeval's accumulated precision (what summarize averages), for the largest maxDets."""
    p = ev.eval["precision"][:, :, :, area, det]
    return float(np.mean(p[p > -1])) if (p > -1).any() else -1.0


@pytest.mark.parametrize("seed", range(12))
def test_instance_ap_equals_pycocotools(seed):
    rng = np.random.default_rng(seed)
    size = (40, 48) if seed % 2 else (120, 130)              # the large scenes reach COCO's medium/large areas
    scenes = [random_scene(rng, size, crowd=seed % 3 == 0) for _ in range(6)]
    preds, refs = [s[0] for s in scenes], [s[1] for s in scenes]
    assert any(len(p["scores"]) for p in preds)          # the seeds are fixed: every scene set has detections
    ours = segmath.instance_ap(preds, refs)
    ref = coco_eval(preds, refs).stats
    np.testing.assert_allclose([float(ours[k]) for k in KEYS], ref, rtol=0, atol=1e-12)


def test_instance_ap_equals_pycocotools_with_other_max_detections():
    rng = np.random.default_rng(99)
    scenes = [random_scene(rng, (60, 60), crowd=True) for _ in range(8)]
    preds, refs = [s[0] for s in scenes], [s[1] for s in scenes]
    ours = segmath.instance_ap(preds, refs, max_detections=(1, 2, 3))
    ev = coco_eval(preds, refs, max_dets=(1, 2, 3))
    keys = [k.replace("_100", "_3").replace("_10", "_2") for k in KEYS]
    np.testing.assert_allclose([float(ours[k]) for k in keys[1:]], ev.stats[1:], rtol=0, atol=1e-12)
    # Pinned difference: COCOeval.summarize hard-codes maxDets=100 for its first number (AP), so with other
    # maxDets it prints -1; segmath's map uses the largest maxDets, like the other eleven numbers.
    assert ev.stats[0] == -1.0
    assert float(ours["map"]) == pytest.approx(precision_mean(ev), abs=1e-12)
