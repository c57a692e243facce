r"""Panoptic quality (Kirillov et al. 2019): PQ = SQ x RQ per category, then averaged.

Per category, with segments matched at IoU > ½ within the category,

.. math::
    \mathrm{PQ} = \frac{\sum_{(p,g)\in TP} \mathrm{IoU}(p,g)}{|TP| + \tfrac12|FP| + \tfrac12|FN|}
    = \underbrace{\frac{\sum_{TP}\mathrm{IoU}}{|TP|}}_{\mathrm{SQ}}\;
      \underbrace{\frac{|TP|}{|TP| + \tfrac12|FP| + \tfrac12|FN|}}_{\mathrm{RQ}}.

Conventions, those of the reference ``panopticapi`` (``pq_compute``):

* a **thing** segment is a (category, instance id) pair; a **stuff** category is one segment per image
  (its instance ids are ignored, as torchmetrics does);
* **void** (``void=`` a category label) pixels of the reference take part in nothing: the union of a
  pair leaves out the prediction's void pixels, and an unmatched prediction lying more than half on
  void (plus a crowd region of its category) is no false positive.  Void pixels of the *prediction*
  are no segment, but they stay in the reference segment's area (panopticapi; torchmetrics also
  removes them from the union and drops false negatives that are mostly predicted void: the one
  place the two differ, pinned by a test);
* **crowd** (``crowd=`` an instance id): reference thing pixels with that id form the category's crowd
  region; it is never matched nor a false negative;
* **classes left out**: a category with TP + FP + FN = 0 has no PQ and is left out of the averages
  (panopticapi, torchmetrics; MONAI scores it 0 instead).  SQ of a category with no TP is 0;
* **aggregation**: ``"dataset"`` pools the counts of all images before the ratios (panopticapi,
  torchmetrics, MONAI); ``"image"`` computes the averages per image and then their mean over the images
  that have something to score.

Nothing left to score (no counted category) gives NaN, documented, as torchmetrics' empty mean.
The counting is on the host (one ``bincount`` of segment pairs per image); results come back in the
input's kind.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import primitives as P
from ..catalogue import register
from ..validation import check_choice
from .inputs import check_categories, check_panoptic_pair, check_panoptic_values
from .matching import assign

__all__ = ["panoptic_quality", "panoptic_counts", "quality_from_counts"]

AGGREGATES = ("dataset", "image")
AVERAGES = ("macro", "none")
_VOID = -1


def _check_label(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer label or None, got {value!r}")
    return int(value)


def _check_setup(things, stuffs, void, crowd):
    things = check_categories(things, "things")
    stuffs = check_categories(stuffs, "stuffs")
    if set(things) & set(stuffs):
        raise ValueError(f"things and stuffs must be disjoint, both hold {sorted(set(things) & set(stuffs))}")
    if not things and not stuffs:
        raise ValueError("things and stuffs are both empty: there is no category to score")
    void = _check_label(void, "void")
    if void is not None and void in things + stuffs:
        raise ValueError(f"void ({void}) must be neither a thing nor a stuff category")
    crowd = _check_label(crowd, "crowd")
    if crowd is not None and crowd < 0:
        raise ValueError(f"crowd must be a non-negative instance id, got {crowd}")
    return things, stuffs, void, crowd


def _segment_keys(x, categories, stuffs, void, span):
    """One integer per pixel naming its segment: ``category index * span + instance id``, void -1."""
    cat, iid = x[0].ravel().astype(np.int64), x[1].ravel().astype(np.int64)
    iid = np.where(np.isin(cat, stuffs), 0, iid)
    key = np.searchsorted(categories, cat) * span + iid
    return np.where(cat == void, _VOID, key) if void is not None else key


def _image_counts(pred, target, categories, stuffs, void, crowd):
    """(tp, fp, fn, iou_sum), each ``(C,)``, of one image's ``(2, *spatial)`` maps."""
    c = len(categories)
    span = int(max(pred[1].max(), target[1].max(), 0)) + 1
    pk, tk = (_segment_keys(x, categories, stuffs, void, span) for x in (pred, target))
    p_keys, p_inv = np.unique(pk, return_inverse=True)
    t_keys, t_inv = np.unique(tk, return_inverse=True)
    table = np.bincount(p_inv.ravel() * len(t_keys) + t_inv.ravel(), minlength=len(p_keys) * len(t_keys))
    table = table.reshape(len(p_keys), len(t_keys))
    p_area, t_area = table.sum(1), table.sum(0)
    p_cat, t_cat = p_keys // span, t_keys // span
    p_seg, t_void = p_keys != _VOID, t_keys == _VOID
    t_crowd = np.zeros(len(t_keys), bool) if crowd is None else \
        (t_keys % span == crowd) & np.isin(t_keys // span, np.searchsorted(categories, stuffs), invert=True) & ~t_void
    t_seg = ~t_void & ~t_crowd
    on_void = table[:, t_void].sum(1)                       # each prediction's pixels on reference void
    inter = table[np.ix_(p_seg, t_seg)].astype(np.float64)
    union = p_area[p_seg, None] + t_area[None, t_seg] - inter - on_void[p_seg, None]
    same = p_cat[p_seg, None] == t_cat[None, t_seg]
    iou = np.where(same & (inter > 0), inter / np.maximum(union, 1), 0.0)
    pairs = assign(iou, 0.5, "greedy")                    # unique above 1/2 (Theorem 1): any assignment
    tp = np.zeros(c, np.int64); fp = np.zeros(c, np.int64); fn = np.zeros(c, np.int64)
    iou_sum = np.zeros(c, np.float64)
    pc, tc = p_cat[p_seg], t_cat[t_seg]
    np.add.at(tp, tc[pairs[:, 1]], 1)
    np.add.at(iou_sum, tc[pairs[:, 1]], iou[pairs[:, 0], pairs[:, 1]])
    t_free = np.ones(len(tc), bool); t_free[pairs[:, 1]] = False
    np.add.at(fn, tc[t_free], 1)
    p_free = np.ones(len(pc), bool); p_free[pairs[:, 0]] = False
    ignored = on_void[p_seg].astype(np.float64)
    if t_crowd.any():   # plus the pixels on the crowd region of the prediction's own category
        crowd_of = table[np.ix_(p_seg, t_crowd)] * (pc[:, None] == t_cat[t_crowd][None, :])
        ignored = ignored + crowd_of.sum(1)
    fp_ok = p_free & (ignored / p_area[p_seg] <= 0.5)
    np.add.at(fp, pc[fp_ok], 1)
    return tp, fp, fn, iou_sum


def panoptic_counts(input, target, *, things, stuffs, void=None, crowd=None):
    """Per image and category ``(N, C)`` counts ``tp``, ``fp``, ``fn`` and ``iou_sum`` (NumPy), the
    categories sorted (``things + stuffs``).  The mergeable state of PQ: sums over images pool it.
    """
    things, stuffs, void, crowd = _check_setup(things, stuffs, void, crowd)
    p, t = check_panoptic_pair(input, target)
    known = things + stuffs + (() if void is None else (void,))
    check_panoptic_values(p, "input", known)
    check_panoptic_values(t, "target", known)
    categories = np.asarray(sorted(things + stuffs), np.int64)
    stuff_arr = np.asarray(stuffs, np.int64)
    rows = [_image_counts(p[n], t[n], categories, stuff_arr, void, crowd) for n in range(p.shape[0])]
    tp, fp, fn, iou_sum = (np.stack([r[i] for r in rows]) for i in range(4))
    return {"categories": categories, "tp": tp, "fp": fp, "fn": fn, "iou_sum": iou_sum}


def _ratios(tp, fp, fn, iou_sum):
    """Per-category PQ, SQ, RQ; NaN where TP + FP + FN = 0 (left out)."""
    den = tp + 0.5 * fp + 0.5 * fn
    counted = den > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pq = np.where(counted, iou_sum / np.where(counted, den, 1), np.nan)
        rq = np.where(counted, tp / np.where(counted, den, 1), np.nan)
        sq = np.where(counted, np.where(tp > 0, iou_sum / np.maximum(tp, 1), 0.0), np.nan)
    return pq, sq, rq


def _nanmean(x, axis=-1):
    n = np.sum(~np.isnan(x), axis=axis)
    s = np.nansum(x, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _example(seed):
    rng = np.random.default_rng(seed)
    target = np.zeros((2, 2, 6, 7), np.int64)
    target[:, 0] = 4                                    # stuff 4 ...
    target[:, 0, :, 4:] = 5                             # ... and stuff 5
    target[:, 0, 1:3, 1:3] = 1; target[:, 1, 1:3, 1:3] = 1     # things of category 1
    target[:, 0, 3:5, 1:4] = 1; target[:, 1, 3:5, 1:4] = 2
    target[:, 0, 0:3, 5:7] = 3; target[:, 1, 0:3, 5:7] = 1     # and of category 3
    target[1, 0, 5, :3] = 0                             # void pixels
    pred = target.copy()
    for n in range(2):                                  # perturb the prediction
        k = rng.integers(0, 42, 8)
        ys, xs = k // 7, k % 7
        pred[n, 0, ys, xs] = rng.choice([1, 3, 4, 5], 8)
        pred[n, 1, ys, xs] = rng.integers(0, 3, 8)
    return (pred, target), {"things": (1, 3), "stuffs": (4, 5), "void": 0}


@register("panoptic_quality", kind="metric", name="Panoptic quality (PQ, SQ, RQ)", example=_example,
          references=("kirillov2019panoptic",), chapter="10_instances",
          formula=r"\mathrm{PQ} = \frac{\sum_{TP}\mathrm{IoU}}{|TP| + \frac12|FP| + \frac12|FN|}"
                  r" = \mathrm{SQ}\cdot\mathrm{RQ}",
          theorems=("verify_pq_sq_rq", "verify_matching_uniqueness"), tags=("3d",))
def panoptic_quality(input, target, *, things, stuffs, void=None, crowd=None, aggregate="dataset",
                     average="macro"):
    r"""Panoptic quality PQ, segmentation quality SQ and recognition quality RQ.

    Args:
        input: predicted panoptic map ``(N, 2, *spatial)`` integer: channel 0 the category, 1 the instance id.
        target: reference map, same shape.
        things: categories with instances (a sequence of ints; may be empty).
        stuffs: categories without instances (their ids are ignored); disjoint from ``things``.
        void: the category of unlabelled pixels, or ``None`` (every pixel must be a thing or a stuff).
        crowd: the instance id of the reference's crowd regions (things only), or ``None``.
        aggregate: ``"dataset"`` (counts pooled over the batch; panopticapi) or ``"image"`` (per image,
            then the mean over images with something to score).
        average: ``"macro"`` (mean over counted categories, and over things / stuffs apart) or
            ``"none"`` (per category, sorted ids; NaN where TP + FP + FN = 0).  ``None`` means ``"none"``.

    Returns:
        dict ``pq``, ``sq``, ``rq`` (and with ``"macro"`` ``pq_things`` ... ``rq_stuff``) of float64
        arrays of the input's kind: scalars, or ``(C,)`` (``"none"``, ``"dataset"``) or ``(N, C)``
        (``"none"``, ``"image"``).  NaN where nothing is counted (documented, never by accident).

    Example:
        >>> import numpy as np, segmath
        >>> t = np.zeros((1, 2, 2, 4), np.int64); t[0, 0] = 1; t[0, 1, :, 2:] = 1   # two things
        >>> p = t.copy(); p[0, 1, 0, 2] = 0                                          # one pixel moves
        >>> r = segmath.panoptic_quality(p, t, things=[1], stuffs=[])
        >>> round(float(r["pq"]), 4), round(float(r["sq"]), 4), float(r["rq"])
        (0.775, 0.775, 1.0)
    """
    average = "none" if average is None else average
    check_choice(aggregate, "aggregate", AGGREGATES)
    check_choice(average, "average", AVERAGES)
    counts = panoptic_counts(input, target, things=things, stuffs=stuffs, void=void, crowd=crowd)
    out = quality_from_counts(counts, things, aggregate, average)
    return {k: P.asarray_like(np.asarray(v, np.float64), input, dtype=_f64(input)) for k, v in out.items()}


def quality_from_counts(counts, things, aggregate="dataset", average="macro"):
    """PQ, SQ, RQ (NumPy) from :func:`panoptic_counts`' per-image tables (the options of
    :func:`panoptic_quality`)."""
    average = "none" if average is None else average
    check_choice(aggregate, "aggregate", AGGREGATES)
    check_choice(average, "average", AVERAGES)
    cats = counts["categories"]
    tp, fp, fn, iou_sum = (counts[k] for k in ("tp", "fp", "fn", "iou_sum"))
    if aggregate == "dataset":
        tp, fp, fn, iou_sum = (a.sum(0) for a in (tp, fp, fn, iou_sum))
    pq, sq, rq = _ratios(tp, fp, fn, iou_sum)
    out = {"pq": pq, "sq": sq, "rq": rq}
    if average == "macro":
        thing = np.isin(cats, np.asarray([int(v) for v in things], np.int64))
        groups = {"": np.ones(len(cats), bool), "_things": thing, "_stuff": ~thing}
        out = {f"{k}{g}": _mean_over(v[..., sel], aggregate) for k, v in (("pq", pq), ("sq", sq), ("rq", rq))
               for g, sel in groups.items()}
    return out


def _mean_over(v, aggregate):
    per = _nanmean(v, axis=-1) if v.shape[-1] else np.full(v.shape[:-1], np.nan)
    return per if aggregate == "dataset" else _nanmean(np.asarray(per, np.float64), axis=0)


def _f64(like):
    return P.namespace(like).float64
