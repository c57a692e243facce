r"""Matching predicted instances to reference instances: the step PQ, AP, per-instance Dice and
detection F1 share.

A **localisation** score between prediction ``p`` and reference ``g``:

* ``"iou"``: :math:`|p \cap g| / |p \cup g|`;
* ``"ior"``: intersection over reference, :math:`|p \cap g| / |g|` (Metrics Reloaded's IoR);
* ``"centre_distance"``: the Euclidean distance of the two centres of mass in pixels (Metrics Reloaded's
  ``com_dist``); here *smaller* is better: a pair is admissible below ``threshold`` (any positive number),
  greedy takes increasing distances and Hungarian maximises the total margin :math:`\sum (t - d)`.

A pair can match when its score is **strictly above** ``threshold``; an **assignment** then keeps at
most one partner per instance:

* ``"greedy"``: pairs by decreasing score (ties: lower prediction index, then lower reference
  index), each kept when both ends are still free;
* ``"hungarian"``: the one-to-one set of admissible pairs of largest total score
  (``scipy.optimize.linear_sum_assignment``).

For IoU above ½ on non-overlapping instances every instance has at most one admissible partner
(Kirillov et al. 2019, Theorem 1; :func:`segmath.theory.verify_matching_uniqueness`), so both
assignments give the same pairs; at IoU = ½ exactly, or for IoR, they need not.

The matching runs on the host (NumPy): the pixel work is one ``bincount`` of id pairs, and the
assignment itself is combinatorial.  Torch inputs are copied to the host (one transfer).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import check_choice, check_scalar
from .inputs import check_background, check_label_map

__all__ = ["Matching", "overlap_table", "match_instances", "assign", "instance_dice", "detection_f1"]

LOCALIZATIONS = ("iou", "ior", "centre_distance")
ASSIGNMENTS = ("greedy", "hungarian")


@dataclass(frozen=True)
class Matching:
    """The outcome of :func:`match_instances` on one image.

    ``pred_ids`` ``(K,)`` and ``target_ids`` ``(L,)`` the instance ids (sorted), ``scores`` ``(K, L)``
    the localisation scores, ``intersections`` ``(K, L)`` pixel counts, ``pred_areas`` / ``target_areas``;
    ``pairs`` ``(M, 2)`` matched (prediction index, reference index) and ``matched_scores`` ``(M,)``.
    """
    pred_ids: np.ndarray
    target_ids: np.ndarray
    intersections: np.ndarray
    pred_areas: np.ndarray
    target_areas: np.ndarray
    scores: np.ndarray
    pairs: np.ndarray
    matched_scores: np.ndarray

    @property
    def tp(self) -> int:
        return int(len(self.pairs))

    @property
    def fp(self) -> int:
        return int(len(self.pred_ids) - len(self.pairs))

    @property
    def fn(self) -> int:
        return int(len(self.target_ids) - len(self.pairs))

    @property
    def unmatched_pred(self) -> np.ndarray:
        return np.setdiff1d(np.arange(len(self.pred_ids)), self.pairs[:, 0])

    @property
    def unmatched_target(self) -> np.ndarray:
        return np.setdiff1d(np.arange(len(self.target_ids)), self.pairs[:, 1])


def overlap_table(pred, target, *, background=0):
    """Ids, areas and the ``(K, L)`` intersection counts of two instance maps of one image.

    One ``bincount`` over the pixels of the pair (prediction index, reference index); the background
    (``None``: none) is left out of both.
    """
    p = np.asarray(pred).ravel()
    t = np.asarray(target).ravel()
    p_ids, p_inv = np.unique(p, return_inverse=True)
    t_ids, t_inv = np.unique(t, return_inverse=True)
    table = np.bincount(p_inv * len(t_ids) + t_inv, minlength=len(p_ids) * len(t_ids))
    table = table.reshape(len(p_ids), len(t_ids))
    p_area, t_area = table.sum(1), table.sum(0)
    keep_p = p_ids != background if background is not None else np.ones(len(p_ids), bool)
    keep_t = t_ids != background if background is not None else np.ones(len(t_ids), bool)
    return (p_ids[keep_p], t_ids[keep_t], table[np.ix_(keep_p, keep_t)], p_area[keep_p], t_area[keep_t])


def localization_scores(inter, p_area, t_area, localization):
    inter = inter.astype(np.float64)
    if localization == "iou":
        union = p_area[:, None] + t_area[None, :] - inter
        return inter / np.maximum(union, 1)     # union >= 1 for any instance that exists
    return inter / np.maximum(t_area[None, :], 1)


def assign(scores, threshold=0.5, assignment="greedy", margin=False):
    """One-to-one pairs ``(M, 2)`` of a score matrix among entries strictly above ``threshold``.

    Hungarian maximises the total score of the admissible pairs (scores >= 0), or with ``margin`` the
    total excess ``score - threshold`` (for scores of any sign, e.g. negated distances).
    """
    scores = np.asarray(scores, dtype=np.float64)
    ok = scores > threshold
    if not ok.any():
        return np.zeros((0, 2), np.int64)
    if assignment == "hungarian":
        from scipy.optimize import linear_sum_assignment
        weight = scores - threshold if margin else scores
        rows, cols = linear_sum_assignment(np.where(ok, weight, 0.0), maximize=True)
        keep = ok[rows, cols]
        return np.stack([rows[keep], cols[keep]], 1).astype(np.int64)
    rows, cols = np.nonzero(ok)
    order = np.lexsort((cols, rows, -scores[rows, cols]))   # score desc, then indices asc
    used_r, used_c, out = set(), set(), []
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            out.append((r, c))
    out.sort()
    return np.asarray(out, np.int64).reshape(-1, 2)


def _check_options(localization, threshold, assignment, background):
    check_choice(localization, "localization", LOCALIZATIONS)
    check_choice(assignment, "assignment", ASSIGNMENTS)
    if localization == "centre_distance":
        check_scalar(threshold, "threshold", low=0.0, low_open=True)
    else:
        check_scalar(threshold, "threshold", low=0.0, high=1.0, high_open=True)
    return check_background(background)


def _centres(labels, ids):
    """(len(ids), ndim) centres of mass of the pixels of each id."""
    coords = np.indices(labels.shape).reshape(labels.ndim, -1).T.astype(np.float64)
    flat = labels.ravel()
    return np.stack([coords[flat == i].mean(0) for i in ids]) if len(ids) else np.zeros((0, labels.ndim))


def match_instances(pred, target, *, localization="iou", threshold=0.5, assignment="greedy", background=0):
    """Match the instances of two label maps of one image.

    Args:
        pred, target: integer instance maps of the same shape (any rank; NumPy or torch).
        localization: ``"iou"``, ``"ior"`` (intersection over reference) or ``"centre_distance"``; see the
            module docstring.
        threshold: a pair is admissible when its score is strictly above it (PQ's ½ by default); for
            ``"centre_distance"`` when the distance is strictly below it.
        assignment: ``"greedy"`` (by decreasing score) or ``"hungarian"`` (largest total score).
        background: the id that is no instance (``None``: every id is one).

    Returns:
        a :class:`Matching`.

    Example:
        >>> import numpy as np, segmath
        >>> g = np.array([[1, 1, 2, 2]]); p = np.array([[3, 3, 3, 0]])
        >>> m = segmath.instances.match_instances(p, g)
        >>> m.tp, m.fp, m.fn, float(m.matched_scores[0])
        (1, 0, 1, 0.6666666666666666)
    """
    background = _check_options(localization, threshold, assignment, background)
    p = check_label_map(pred, "pred")
    t = check_label_map(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"target must have the shape of pred {p.shape}, got {t.shape}")
    p_ids, t_ids, inter, p_area, t_area = overlap_table(p, t, background=background)
    if localization == "centre_distance":
        scores = np.linalg.norm(_centres(p, p_ids)[:, None, :] - _centres(t, t_ids)[None, :, :], axis=-1)
        pairs = assign(-scores, -float(threshold), assignment, margin=True)     # smaller is better
    else:
        scores = localization_scores(inter, p_area, t_area, localization)
        pairs = assign(scores, threshold, assignment)
    return Matching(p_ids, t_ids, inter, p_area, t_area, scores, pairs, scores[pairs[:, 0], pairs[:, 1]])


def instance_dice(pred, target, *, localization="iou", threshold=0.5, assignment="greedy", background=0):
    r"""Per-instance Dice: for each reference instance, Dice with its matched prediction, 0 if unmatched.

    .. math:: D_g = \frac{2|p(g) \cap g|}{|p(g)| + |g|}

    Returns a float64 NumPy array ``(L,)`` in the order of the sorted reference ids (empty when the
    reference has no instance).  Matching options as :func:`match_instances`.
    """
    m = match_instances(pred, target, localization=localization, threshold=threshold, assignment=assignment,
                        background=background)
    out = np.zeros(len(m.target_ids))
    r, c = m.pairs[:, 0], m.pairs[:, 1]
    out[c] = 2.0 * m.intersections[r, c] / (m.pred_areas[r] + m.target_areas[c])
    return out


def detection_f1(pred, target, *, beta=1.0, empty=1.0, localization="iou", threshold=0.5, assignment="greedy",
                 background=0):
    r"""Detection :math:`F_\beta` over matched instances of one image (the Metrics Reloaded InS count metric).

    .. math:: F_\beta = \frac{(1+\beta^2)\,TP}{(1+\beta^2)\,TP + \beta^2 FN + FP}

    ``empty``: the value when neither map has an instance (default 1: nothing to find, nothing found;
    ``float("nan")`` as Metrics Reloaded).  Matching options as :func:`match_instances`.
    """
    check_scalar(beta, "beta", low=0.0, low_open=True)
    check_scalar(empty, "empty") if empty == empty else None
    m = match_instances(pred, target, localization=localization, threshold=threshold, assignment=assignment,
                        background=background)
    b2 = float(beta) ** 2
    den = (1 + b2) * m.tp + b2 * m.fn + m.fp
    return float(empty) if den == 0 else (1 + b2) * m.tp / den
