"""Soft confusion statistics: the sufficient statistics of every region loss.

For probabilities p and targets y (one-hot, multi-label or soft), per image n and
class c over the counted pixels s:

    tp = sum_s p y,   sp = sum_s p,   sy = sum_s y,   fp = sp - tp,   fn = sy - tp,
    tn = n_pix - sp - sy + tp,   sp2 = sum_s p^2,   sy2 = sum_s y^2,   l1 = sum_s |p - y|.

With hard label targets the products are a gather and a scatter-add (no float
one-hot of the batch).  Every Dice/Jaccard/Tversky-type loss is a short formula in
these numbers; with ``aggregate="batch"`` the sums are pooled over images first.

On torch logits with a softmax over label targets the sums come from the fused function of
:mod:`segmath.losses.fused` (one pass forward, an analytic backward); everywhere else, and inside
:func:`formula_path`, from the formulas below (autograd through each step), the reference.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import primitives as P
from .inputs import Pair
from .reduce import check_aggregate


@dataclass
class SoftStats:
    tp: Any
    sp: Any
    sy: Any
    n: Any               # counted pixels per image, (N, 1) or (1, 1)
    sp2: Any = None
    sy2: Any = None
    l1: Any = None

    @property
    def fp(self):
        return self.sp - self.tp

    @property
    def fn(self):
        return self.sy - self.tp

    @property
    def tn(self):
        return self.n - self.sp - self.sy + self.tp


_PATH = {"fused": True}


@contextmanager
def formula_path():
    """Within the block, the region statistics take the formula path (autograd through every
    step) instead of the fused one of :mod:`segmath.losses.fused`: the reference it is tested
    against, and a switch for measuring the difference."""
    old, _PATH["fused"] = _PATH["fused"], False
    try:
        yield
    finally:
        _PATH["fused"] = old


def _fusable(pair: Pair, l1: bool) -> bool:
    """The fused statistics apply to torch logits with a softmax over integer labels."""
    return (_PATH["fused"] and pair.labels is not None and pair.from_logits and pair.activation == "softmax"
            and P.is_torch(pair.input) and not l1)


def soft_stats(pair: Pair, aggregate: str = "image", *, squares: bool = False, l1: bool = False) -> SoftStats:
    """Soft counts per (image, class) -> (N, C), or pooled over the batch -> (1, C).

    Every label is read by a bounds-checking gather / scatter-add (torch) here, so a label range
    check deferred by ``make_pair`` rides on them (:meth:`~segmath.inputs.Pair.guarded`).
    """
    check_aggregate(aggregate)
    return pair.guarded(_soft_stats, pair, aggregate, squares, l1)


def _soft_stats(pair: Pair, aggregate: str, squares: bool, l1: bool) -> SoftStats:
    xp = pair.xp
    if _fusable(pair, l1):
        stats = _fused_stats(pair, squares)
        return _pool(xp, stats) if aggregate == "batch" else stats
    p = pair.masked(pair.prob)
    if pair.labels is not None:
        stats = _label_stats(pair, p)
    else:
        y = pair.masked(pair.dense)
        stats = SoftStats(tp=xp.sum(p * y, axis=2), sp=xp.sum(p, axis=2), sy=xp.sum(y, axis=2), n=pair.count())
    if squares:
        stats.sp2 = xp.sum(p * p, axis=2)
        stats.sy2 = stats.sy if pair.labels is not None else xp.sum(pair.masked(pair.dense) ** 2, axis=2)
    if l1:
        if pair.labels is not None:  # |p - y| summed is fp + fn for one-hot y
            stats.l1 = stats.fp + stats.fn
        else:
            stats.l1 = xp.sum(pair.masked(xp.abs(pair.prob - pair.dense)), axis=2)
    return _pool(xp, stats) if aggregate == "batch" else stats


def _pool(xp, stats: SoftStats) -> SoftStats:
    """``aggregate="batch"``: every count summed over the images, (1, C)."""
    for name in ("tp", "sp", "sy", "n", "sp2", "sy2", "l1"):
        value = getattr(stats, name)
        if value is not None:
            setattr(stats, name, xp.sum(value, axis=0, keepdims=True))
    return stats


def _fused_stats(pair: Pair, squares: bool) -> SoftStats:
    from .losses.fused import label_softmax_stats   # torch only; imported on first use
    out = label_softmax_stats(pair.input, pair.labels, pair.valid, squares)
    stats = SoftStats(tp=out[0], sp=out[1], sy=out[2], n=pair.count())
    if squares:
        stats.sp2, stats.sy2 = out[3], out[2]
    return stats


def _label_stats(pair: Pair, p) -> SoftStats:
    xp, c = pair.xp, pair.num_classes
    p_true = P.gather_class(p, pair.labels)              # (N, S), zero at ignored pixels
    tp = P.class_sums(p_true, pair.labels, c)
    sy = P.class_sums(pair.counted(), pair.labels, c)
    return SoftStats(tp=tp, sp=xp.sum(p, axis=2), sy=P.detach(sy), n=pair.count())
