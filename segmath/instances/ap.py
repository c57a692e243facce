r"""COCO mask average precision (Lin et al. 2014), as ``pycocotools``' ``COCOeval(iouType="segm")`` computes it.

Per category and area range, the detections of all images are ranked by score; each image's
detections (its ``max_detections[-1]`` best) were first matched greedily, in score order, to the
reference mask of largest IoU that is still free, at IoU >= t for each of the ten thresholds
t = .50, .55, ..., .95.  Precision is made monotone (the running maximum from the right) and read at
101 recall points 0, .01, ..., 1; AP is its mean over recall points, thresholds and categories.

The COCO conventions, kept: a reference outside the area range, or crowd (``iscrowd``), is
*ignored* (a detection matched to it is neither TP nor FP; a crowd reference can absorb any number of
detections, with IoU taken as intersection over the detection's area); a detection left unmatched
outside the area range is ignored; area ranges are all, small (area <= 32²), medium (32², 96²] and
large (> 96²), areas in pixels; a category without any non-ignored reference has no AP (COCO's -1)
and is left out of the mean, and a mean over nothing is -1, as COCO and torchmetrics report.

Matching here is the AP matching (score order, IoU >= t), not PQ's IoU > ½; the masks' pairwise
intersections come from one matrix product per image.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import primitives as P
from ..catalogue import register
from .inputs import check_detections, sequence_items

__all__ = ["instance_ap"]

IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())
AREAS = {"all": (0.0, 1e10), "small": (0.0, 32.0 ** 2), "medium": (32.0 ** 2, 96.0 ** 2), "large": (96.0 ** 2, 1e10)}


def _flat(masks):
    return masks.reshape(len(masks), int(np.prod(masks.shape[1:])))   # also for K = 0


def _mask_iou(dt, gt, crowd):
    """(D, G) IoU of boolean masks; against a crowd reference, intersection over the detection's area."""
    d = _flat(dt).astype(np.float64)
    g = _flat(gt).astype(np.float64)
    inter = d @ g.T
    da, ga = d.sum(1), g.sum(1)
    union = np.where(crowd[None, :], da[:, None], da[:, None] + ga[None, :] - inter)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _evaluate_image(ious, d_area, g_area, g_crowd, area, thresholds):
    """Greedy COCO matching of one image and category (detections already in score order).

    Returns (matched (T, D) bool, ignored detections (T, D) bool, ignored references (G,) bool).
    """
    lo, hi = area
    g_ignore = g_crowd | (g_area < lo) | (g_area > hi)
    order = np.argsort(g_ignore, kind="mergesort")          # non-ignored references first
    ious, g_ignore, g_crowd = ious[:, order], g_ignore[order], g_crowd[order]
    t_n, d_n, g_n = len(thresholds), ious.shape[0], ious.shape[1]
    matched = np.zeros((t_n, d_n), bool)
    d_ignore = np.zeros((t_n, d_n), bool)
    for ti, t in enumerate(thresholds):
        taken = np.zeros(g_n, bool)
        for di in range(d_n):
            best, m = min(t, 1 - 1e-10), -1
            for gi in range(g_n):
                if taken[gi] and not g_crowd[gi]:
                    continue
                if m > -1 and not g_ignore[m] and g_ignore[gi]:
                    break                                # the ignored references come last
                if ious[di, gi] < best:
                    continue
                best, m = ious[di, gi], gi
            if m > -1:
                matched[ti, di] = True
                d_ignore[ti, di] = g_ignore[m]
                taken[m] = True
    outside = (d_area < lo) | (d_area > hi)
    d_ignore |= ~matched & outside[None, :]
    return matched, d_ignore, g_ignore


def _precision_recall(scores, matched, d_ignore, n_ref, recall_points):
    """Interpolated precision at the recall points (R,) and the final recall, per threshold."""
    order = np.argsort(-scores, kind="mergesort")
    matched, d_ignore = matched[:, order], d_ignore[:, order]
    tps = np.cumsum(matched & ~d_ignore, axis=1).astype(np.float64)
    fps = np.cumsum(~matched & ~d_ignore, axis=1).astype(np.float64)
    precision = np.zeros((matched.shape[0], len(recall_points)))
    recall = np.zeros(matched.shape[0])
    for ti in range(matched.shape[0]):
        tp, fp = tps[ti], fps[ti]
        if not len(tp):
            continue
        rc = tp / n_ref
        pr = np.maximum.accumulate((tp / (tp + fp + np.spacing(1)))[::-1])[::-1]
        recall[ti] = rc[-1]
        idx = np.searchsorted(rc, recall_points, side="left")
        ok = idx < len(pr)
        precision[ti, ok] = pr[idx[ok]]
    return precision, recall


def _check_options(iou_thresholds, max_detections, recall_points):
    def reals(v, name, lo, hi, integer=False):
        kind = numbers.Integral if integer else numbers.Real
        items = sequence_items(v, name, "numbers")
        if not items or not all(isinstance(x, kind) and not isinstance(x, bool) for x in items):
            raise TypeError(f"{name} must be a non-empty sequence of {'integers' if integer else 'numbers'}, "
                            f"got {v!r}")
        if not all(lo <= x <= hi for x in items):
            raise ValueError(f"{name} must lie in [{lo}, {hi}], got {items}")
        return tuple(items)
    it = reals(iou_thresholds, "iou_thresholds", 0.0, 1.0)
    md = tuple(sorted(reals(max_detections, "max_detections", 1, 10 ** 9, integer=True)))
    if isinstance(recall_points, bool) or not isinstance(recall_points, numbers.Integral) or recall_points < 2:
        raise TypeError(f"recall_points must be an integer >= 2 (COCO: 101), got {recall_points!r}")
    return it, md, np.linspace(0.0, 1.0, int(recall_points))


def _mean_valid(x):
    v = x[x > -1]
    return float(v.mean()) if v.size else -1.0


def _example(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:12, :12]
    preds, target = [], []
    for _ in range(2):
        g_masks, labels = [], []
        for k in range(3):
            cy, cx, r = rng.integers(3, 9), rng.integers(3, 9), rng.integers(2, 4)
            g_masks.append((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)
            labels.append(k % 2)
        g = np.stack(g_masks)
        d = np.concatenate([np.roll(g, rng.integers(-1, 2), axis=2), g[:1] ^ (rng.random((1, 12, 12)) < 0.1)])
        target.append({"masks": g, "labels": np.asarray(labels, np.int64)})
        preds.append({"masks": d, "scores": rng.random(4), "labels": np.asarray(labels + [1], np.int64)})
    return (preds, target), {}


@register("instance_ap", kind="metric", name="COCO mask average precision (AP@[.5:.95], AP50, AP75)",
          example=_example, references=("lin2014microsoft",), chapter="10_instances",
          formula=r"\mathrm{AP} = \frac{1}{|T|\,|K|}\sum_{t\in T}\sum_{k}\frac{1}{101}\sum_{r\in\{0,.01,\dots,1\}}"
                  r"\max_{\tilde r \ge r} p_{t,k}(\tilde r)")
def instance_ap(preds, target, *, iou_thresholds=IOU_THRESHOLDS, max_detections=(1, 10, 100), recall_points=101):
    """COCO mask AP and AR, as ``pycocotools`` (``iouType="segm"``) and torchmetrics' ``MeanAveragePrecision``.

    Args:
        preds: one dict per image: ``masks`` ``(K, *spatial)`` bool, ``scores`` ``(K,)``, ``labels`` ``(K,)``.
        target: one dict per image: ``masks`` ``(G, *spatial)`` bool, ``labels`` ``(G,)``, optional ``iscrowd``.
        iou_thresholds: the IoU thresholds (COCO: .50 to .95 by .05); ``map_50`` / ``map_75`` need .5 / .75 in it.
        max_detections: detections kept per image, increasing (COCO: 1, 10, 100); AP uses the largest.
        recall_points: the number of equally spaced recall points (COCO: 101).

    Returns:
        dict ``map``, ``map_50``, ``map_75``, ``map_small``, ``map_medium``, ``map_large``,
        ``mar_<m>`` for each ``m`` in ``max_detections``, ``mar_small``, ``mar_medium``, ``mar_large``:
        float64 scalars of the input's kind; -1 where nothing is defined (COCO's value).

    Example:
        >>> import numpy as np, segmath
        >>> g = np.zeros((1, 4, 4), bool); g[0, :2] = True
        >>> r = segmath.instance_ap([{"masks": g, "scores": np.array([0.9]), "labels": np.array([1])}],
        ...                         [{"masks": g, "labels": np.array([1])}])
        >>> round(float(r["map"]), 12), float(r["mar_1"])     # COCO divides by tp + fp + eps
        (1.0, 1.0)
    """
    thresholds, max_dets, rec = _check_options(iou_thresholds, max_detections, recall_points)
    dets = check_detections(preds, "preds", prediction=True)
    refs = check_detections(target, "target", prediction=False)
    if len(dets) != len(refs):
        raise ValueError(f"target must hold one dict per image of preds ({len(dets)}), got {len(refs)}")
    for i, ((dm, *_), (gm, *_)) in enumerate(zip(dets, refs)):
        if dm.shape[1:] != gm.shape[1:]:
            raise ValueError(f"preds[{i}]['masks'] must have the image size of target[{i}]['masks'] "
                             f"{gm.shape[1:]}, got {dm.shape[1:]}")
    cats = np.unique(np.concatenate([r[1] for r in refs] + [d[1] for d in dets]))
    big = max_dets[-1]
    t_n, r_n = len(thresholds), len(rec)
    precision = -np.ones((t_n, r_n, len(cats), len(AREAS), len(max_dets)))
    recall = -np.ones((t_n, len(cats), len(AREAS), len(max_dets)))
    for ki, cat in enumerate(cats):
        per_image = []
        for (dm, dl, ds, _), (gm, gl, _, gc) in zip(dets, refs):
            d_sel, g_sel = np.nonzero(dl == cat)[0], np.nonzero(gl == cat)[0]
            if not len(d_sel) and not len(g_sel):
                continue
            d_sel = d_sel[np.argsort(-ds[d_sel], kind="mergesort")][:big]
            ious = _mask_iou(dm[d_sel], gm[g_sel], gc[g_sel])
            d_area = _flat(dm[d_sel]).sum(1)
            g_area = _flat(gm[g_sel]).sum(1)
            per_image.append((ds[d_sel], ious, d_area, g_area, gc[g_sel]))
        for ai, area in enumerate(AREAS.values()):
            evals = [(s,) + _evaluate_image(i, da, ga, gc, area, thresholds) for s, i, da, ga, gc in per_image]
            n_ref = sum(int((~e[3]).sum()) for e in evals)
            if n_ref == 0:
                continue
            for mi, m in enumerate(max_dets):
                scores = np.concatenate([e[0][:m] for e in evals])
                matched = np.concatenate([e[1][:, :m] for e in evals], axis=1)
                ignored = np.concatenate([e[2][:, :m] for e in evals], axis=1)
                pr, rc = _precision_recall(scores, matched, ignored, n_ref, rec)
                precision[:, :, ki, ai, mi] = pr
                recall[:, ki, ai, mi] = rc
    out = {}

    def at(t):
        hit = [i for i, v in enumerate(thresholds) if abs(v - t) < 1e-12]
        return _mean_valid(precision[hit[0], :, :, 0, -1]) if hit else -1.0
    out["map"] = _mean_valid(precision[:, :, :, 0, -1])
    out["map_50"], out["map_75"] = at(0.5), at(0.75)
    for ai, name in enumerate(AREAS):
        if name != "all":
            out[f"map_{name}"] = _mean_valid(precision[:, :, :, ai, -1])
    for mi, m in enumerate(max_dets):
        out[f"mar_{m}"] = _mean_valid(recall[:, :, 0, mi])
    for ai, name in enumerate(AREAS):
        if name != "all":
            out[f"mar_{name}"] = _mean_valid(recall[:, :, ai, -1])
    like = preds[0]["masks"]
    return {k: P.asarray_like(np.float64(v), like, dtype=P.namespace(like).float64) for k, v in out.items()}
