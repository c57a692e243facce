"""Reductions shared by every loss: per pixel, per (image, class), and the final ``reduction``."""
from __future__ import annotations

from .validation import check_choice, check_reduction

LOSS_AGGREGATES = ("image", "batch")


def check_aggregate(aggregate):
    """``"image"``: one value per image and class, then the mean (the default);
    ``"batch"``: sums pooled over the whole batch before the ratio (nnU-Net's batch Dice)."""
    return check_choice(aggregate, "aggregate", LOSS_AGGREGATES)


def pixel_reduce(xp, per_pixel, reduction, *, valid=None, pixel_weight=None, spatial=()):
    """Reduce a per-pixel loss (N, S).

    ``mean`` divides by the number of counted pixels or, with per-pixel weights, by their
    sum (the convention of ``torch.nn.functional.cross_entropy(weight=...)``); ``none``
    returns (N, *spatial) with ignored pixels set to 0.

    Empty policy: when every pixel is ignored the mean is 0 with a zero gradient (torch's
    cross-entropy returns NaN there, which poisons a training run through one bad crop).
    """
    check_reduction(reduction)
    loss = per_pixel if pixel_weight is None else per_pixel * pixel_weight
    if valid is not None:
        loss = xp.where(valid, loss, xp.zeros_like(loss))
    if reduction == "none":
        return xp.reshape(loss, (loss.shape[0],) + tuple(spatial))
    total = xp.sum(loss)
    if reduction == "sum":
        return total
    if pixel_weight is not None:
        w = pixel_weight if valid is None else xp.where(valid, pixel_weight, xp.zeros_like(pixel_weight))
        denom = xp.sum(w)
    elif valid is not None:
        denom = xp.sum(xp.astype(valid, loss.dtype))
    else:
        denom = xp.asarray(float(per_pixel.shape[0] * per_pixel.shape[1]), dtype=loss.dtype)
    # denom is 0 only when nothing is counted, and then total is 0 too: 0 / tiny = 0
    return total / xp.maximum(denom, xp.asarray(xp.finfo(loss.dtype).tiny, dtype=loss.dtype))


def class_reduce(xp, per_class, reduction, weight=None):
    """Reduce an (N, C) or (1, C) loss table.

    ``mean``: the mean over images of the class-weighted mean sum_c w_c L_nc / sum_c w_c;
    ``sum``: sum_n sum_c w_c L_nc; ``none``: the (weighted) table itself.
    """
    check_reduction(reduction)
    table = per_class if weight is None else per_class * weight
    if reduction == "none":
        return table
    if reduction == "sum":
        return xp.sum(table)
    if weight is None:
        return xp.mean(table)
    return xp.mean(xp.sum(table, axis=1) / xp.sum(weight))
