"""The three reductions every loss ends with.

* :func:`pixel_reduce`: a per-pixel loss ``(N, S)`` -> ``reduction`` (mean over counted pixels,
  or a weighted mean ``sum(loss) / sum(norm)``, pooled or per image).
* :func:`class_reduce`: an ``(N, C)`` (or ``(1, C)``) table -> ``reduction`` (class-weighted mean
  over the counted entries, then the mean over images).
* :func:`pixel_mean`: an ``(N, C, S)`` map -> its ``(N, C)`` mean over the counted pixels (the
  table of a per-class pixel-averaged loss).

Every division is :func:`segmath.numerics.safe_divide`: nothing counted gives 0 (with a zero
gradient), and a NaN in the loss always reaches the result.
"""
from __future__ import annotations

from .numerics import safe_divide
from .validation import check_choice, check_reduction

LOSS_AGGREGATES = ("image", "batch")


def check_aggregate(aggregate):
    """``"image"``: one value per image and class, then the mean (the default);
    ``"batch"``: sums pooled over the whole batch before the ratio (nnU-Net's batch Dice)."""
    return check_choice(aggregate, "aggregate", LOSS_AGGREGATES)


def pixel_reduce(xp, per_pixel, reduction, *, valid=None, pixel_weight=None, norm=None, spatial=(),
                 per_image=False):
    """Reduce a per-pixel loss (N, S).

    ``mean`` divides the summed loss by the number of counted pixels or, with per-pixel weights,
    by their sum (the convention of ``torch.nn.functional.cross_entropy(weight=...)``), or by the
    sum of ``norm`` (N, S) when given (a loss that carries its own normaliser); ``per_image``
    forms that ratio per image and averages the images.  ``none`` returns (N, *spatial) with
    ignored pixels set to 0.

    Empty policy: when nothing is counted the mean is 0 with a zero gradient (torch's
    cross-entropy returns NaN there, which poisons a training run through one bad crop).
    """
    check_reduction(reduction)
    loss = per_pixel if pixel_weight is None else per_pixel * pixel_weight
    if norm is None:
        norm = pixel_weight
    if valid is not None:
        zero = xp.zeros_like(loss)
        loss = xp.where(valid, loss, zero)
        norm = xp.astype(valid, loss.dtype) if norm is None else xp.where(valid, norm, zero)
    if reduction == "none":
        return xp.reshape(loss, (loss.shape[0],) + tuple(spatial))
    axis = 1 if per_image else None
    total = xp.sum(loss, axis=axis)
    if reduction == "sum":
        return xp.sum(total)
    if norm is None:  # every pixel counts: the count is known from the shape
        size = per_pixel.shape[1] if per_image else per_pixel.shape[0] * per_pixel.shape[1]
        mean = total / float(size)
    else:
        mean = safe_divide(xp, total, xp.sum(norm, axis=axis))
    return xp.mean(mean) if per_image else mean


def class_reduce(xp, per_class, reduction, weight=None, counted=None):
    """Reduce an (N, C) or (1, C) loss table.

    ``mean``: the mean over images of the class-weighted mean sum_c w_c L_nc / sum_c w_c;
    ``sum``: sum_n sum_c w_c L_nc; ``none``: the (weighted) table itself.  ``counted`` (a bool
    table broadcasting to it) restricts all three to the counted entries: ``none`` has 0 at the
    others, and the mean is over the images with at least one counted entry (0 if none).
    """
    check_reduction(reduction)
    w = weight
    if counted is not None:
        mask = xp.astype(counted, per_class.dtype)
        w = mask if weight is None else mask * weight
    table = per_class if w is None else per_class * w
    if reduction == "none":
        return table
    if reduction == "sum":
        return xp.sum(table)
    if w is None:
        return xp.mean(table)
    if counted is None:
        return xp.mean(xp.sum(table, axis=1) / xp.sum(weight))
    wsum = xp.sum(xp.broadcast_to(w, table.shape), axis=1)
    rows = xp.sum(xp.astype(wsum != 0, table.dtype))
    return safe_divide(xp, xp.sum(safe_divide(xp, xp.sum(table, axis=1), wsum)), rows)


def pixel_mean(pair, per):
    """Mean over the counted pixels of an (N, C, S) map -> (N, C) (0 for an image with none)."""
    xp = pair.xp
    if pair.valid is None:
        return xp.mean(per, axis=-1)
    return safe_divide(xp, xp.sum(pair.masked(per), axis=-1), pair.count())
