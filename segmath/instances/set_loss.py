r"""The set-prediction loss of mask classification (MaskFormer, Cheng et al. 2021; Mask2Former, 2022).

``Q`` queries each predict a class distribution over ``C`` classes plus "no object" and a mask.  Per
image the queries are matched one-to-one to the reference instances by the Hungarian algorithm on

.. math:: \mathcal C_{qk} = -w_c\,p_q(c_k) + w_m\,\mathrm{BCE}(\hat m_q, m_k) + w_d\,\big(1 - \mathrm{Dice}(\hat m_q, m_k)\big),

then the loss is :math:`w_c` times the cross-entropy of every query's class (matched: :math:`c_k`;
unmatched: "no object", weighted ``eos_weight``; the weighted mean over queries) plus, averaged over
the matched pairs, :math:`w_m` times the mean pixel BCE of the mask logits and :math:`w_d` times the
soft Dice loss :math:`1 - (2\sum\sigma(\hat m) m + 1)/(\sum\sigma(\hat m) + \sum m + 1)`.
Defaults: Mask2Former's :math:`w_c = 2`, :math:`w_m = w_d = 5`, ``eos_weight`` = 0.1.

**Host synchronisation, by design**: the assignment runs on the host
(``scipy.optimize.linear_sum_assignment`` on the detached ``(Q, K)`` cost of each image); the loss itself
is batched.  On a GPU, the cost matrices are formed on the device; what crosses is the ``(N, Q, K)`` cost
and the ``(N, K)`` presence of the instance slots (one read per batch) and the ``(N, K)`` assignment coming
back.  This loss does not trace whole under ``torch.compile``.
"""
from __future__ import annotations

import math

import numpy as np

from .. import primitives as P
from ..catalogue import NoForm, register
from ..numerics import safe_divide
from ..validation import check_array, check_reduction, check_same_kind, check_scalar, value_checks_enabled
from .losses import _prepare, _reduce

__all__ = ["mask_classification"]


def _example(seed):
    rng = np.random.default_rng(seed)
    target = np.zeros((2, 6, 7), np.int64)
    target[:, :3, :4] = 1
    target[:, 3:, 3:] = 2
    target[1, 0, 6] = 2
    masks = rng.normal(0, 2.0, (2, 3, 6, 7))          # Q = 3 queries
    class_logits = rng.normal(0, 1.0, (2, 3, 3))      # C = 2 classes + no object
    labels = np.array([[0, 1, 0], [0, 0, 1]])         # class of ids 0 (unused), 1, 2
    return (masks, target), {"class_logits": class_logits, "labels": labels, "max_id": 2}


def _check_extras(class_logits, labels, input, k):
    check_array(class_logits, "class_logits", min_ndim=3, floating=True)
    check_same_kind(input, class_logits, "input", "class_logits")
    n, q = input.shape[:2]
    if tuple(class_logits.shape[:2]) != (n, q) or class_logits.ndim != 3 or class_logits.shape[2] < 2:
        raise ValueError(f"class_logits must have shape (N, Q, C + 1) = ({n}, {q}, C + 1) with C >= 1 (the "
                         f"last column: no object), got {tuple(class_logits.shape)}")
    check_array(labels, "labels", min_ndim=2, floating=False)
    check_same_kind(input, labels, "input", "labels")
    if tuple(labels.shape) != (n, k):
        raise ValueError(f"labels must have shape (N, max_id + 1) = ({n}, {k}): the class of each instance id, "
                         f"got {tuple(labels.shape)}")
    if not value_checks_enabled():
        return
    lab = P.to_numpy(labels)
    c = class_logits.shape[2] - 1
    if lab.min() < 0 or lab.max() >= c:
        raise ValueError(f"labels must hold classes in [0, {c - 1}] (C = {c}; column {c} of class_logits is "
                         f"no object), found [{int(lab.min())}, {int(lab.max())}]")


def _pair_costs(xp, logits, inside, cnt):
    """(N, Q, K) mean-pixel BCE and Dice loss of every query mask against every instance mask."""
    s = logits.shape[2]
    prob = P.sigmoid(logits)
    # BCE(z, y) = softplus(z) - z y, summed over pixels: the y-term is a product with the masks
    pos = xp.matmul(logits, xp.permute_dims(inside, (0, 2, 1)))          # sum_x z_q(x) m_k(x)
    bce = (xp.sum(P.softplus(logits), axis=2)[:, :, None] - pos) / s
    inter = xp.matmul(prob, xp.permute_dims(inside, (0, 2, 1)))
    dice = 1.0 - (2.0 * inter + 1.0) / (xp.sum(prob, axis=2)[:, :, None] + cnt[:, None, :] + 1.0)
    return bce, dice


@register("mask_classification", kind="loss", name="Mask-classification set loss (MaskFormer)", example=_example,
          references=("cheng2021perpixel",), chapter="11_embeddings",
          symbolic=NoForm("a set-prediction loss: a Hungarian matching of queries to instances, then class "
                          "cross-entropy and mask BCE + Dice on the pairs; no per-pixel or count form"),
          formula=(r"\begin{aligned}L &= w_c\,\mathrm{CE}_\mathrm{eos}(\text{queries}) + \frac{1}{K}\sum_{k}"
                   r"\big(w_m\,\mathrm{BCE}(\hat m_{\pi(k)}, m_k)\\&\quad + w_d\,(1 - \mathrm{Dice}(\hat m_{\pi(k)}, m_k))"
                   r"\big),\ \pi = \text{Hungarian}\end{aligned}"), tags=("3d",))
def mask_classification(input, target, *, class_logits, labels, w_class=2.0, w_mask=5.0, w_dice=5.0,
                        eos_weight=0.1, background=0, max_id=None, reduction="mean"):
    """Hungarian-matched mask-classification loss (see the module docstring).

    Args:
        input: query mask logits ``(N, Q, *spatial)``.
        target: instance ids ``(N, *spatial)`` in ``[0, max_id]`` (``background``: no instance).
        class_logits: ``(N, Q, C + 1)`` class logits, the last column "no object".
        labels: ``(N, max_id + 1)`` integer class of each instance id (entries of absent ids unused).
        w_class, w_mask, w_dice: the weights of the class, mask-BCE and Dice terms (in the matching
            cost and the loss).
        eos_weight: the class weight of "no object" in the cross-entropy.
        background, max_id, reduction: as :func:`segmath.discriminative`.

    An image without instances costs :math:`w_c` times the no-object cross-entropy of its queries.
    """
    for name, v in (("w_class", w_class), ("w_mask", w_mask), ("w_dice", w_dice), ("eos_weight", eos_weight)):
        check_scalar(v, name, low=0.0)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
    check_reduction(reduction)
    xp, x, ids, fg, k = _prepare(input, target, background, max_id)
    _check_extras(class_logits, labels, input, k)
    n, q = x.shape[:2]
    slots = xp.arange(k, device=P.device(ids))
    inside = xp.astype(ids[:, None, :] == slots[None, :, None], x.dtype) * fg[:, None, :]    # (N, K, S)
    cnt = P.class_sums(fg, ids, k)
    present = cnt > 0
    bce, dice = _pair_costs(xp, x, inside, cnt)
    cl = xp.astype(class_logits, x.dtype)
    logp = P.log_softmax(cl, axis=2)                                                      # (N, Q, C + 1)
    lab = xp.astype(labels, xp.int64)
    prob_k = xp.exp(P.take_along(logp, xp.broadcast_to(lab[:, None, :], (n, q, k)), axis=2))   # (N, Q, K)
    cost = -w_class * prob_k + w_mask * bce + w_dice * dice
    match = _hungarian(P.to_numpy(P.detach(cost)), P.to_numpy(present))                 # the one host read
    qi = P.asarray_like(match, ids, dtype=xp.int64)                                      # (N, K): query or -1
    matched_k = qi >= 0
    pick = xp.where(matched_k, qi, xp.zeros_like(qi))
    w_pair = xp.astype(matched_k, x.dtype)
    pair_bce = xp.squeeze(P.take_along(bce, pick[:, None, :], axis=1), axis=1)            # (N, K)
    pair_dice = xp.squeeze(P.take_along(dice, pick[:, None, :], axis=1), axis=1)
    m = xp.sum(w_pair, axis=1)
    mask_term = safe_divide(xp, xp.sum((w_mask * pair_bce + w_dice * pair_dice) * w_pair, axis=1), m)
    # class targets per query: the matched instance's class, else no object (index C)
    c = cl.shape[2] - 1
    hit = xp.astype(qi[:, None, :] == xp.arange(q, device=P.device(qi))[:, None], xp.int64)   # (N, Q, K)
    qc = xp.sum(hit * lab[:, None, :], axis=2) + c * (1 - xp.sum(hit, axis=2))           # on the device
    nll = -xp.squeeze(P.take_along(logp, qc[:, :, None], axis=2), axis=2)                # (N, Q)
    wq = xp.where(qc == c, xp.full_like(nll, float(eos_weight)), xp.ones_like(nll))
    ce = safe_divide(xp, xp.sum(nll * wq, axis=1), xp.sum(wq, axis=1))
    return _reduce(xp, w_class * ce + mask_term, reduction)


def _hungarian(cost, present):
    """(N, K) index of the query matched to each present instance, -1 for none (absent or Q < K)."""
    from scipy.optimize import linear_sum_assignment
    n, q, k = cost.shape
    out = -np.ones((n, k), np.int64)
    for i in range(n):                                   # one small assignment per image, on the host
        cols = np.nonzero(present[i])[0]
        if not len(cols):
            continue
        c = cost[i][:, cols]
        c = np.where(np.isfinite(c), c, 1e300)          # NaN input: any matching; the loss stays NaN
        rows, sel = linear_sum_assignment(c)
        out[i, cols[sel]] = rows
    return out
