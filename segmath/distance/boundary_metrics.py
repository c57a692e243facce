r"""Boundary-band metrics: boundary IoU (Cheng et al. 2021) and the boundary F1 score (Csurka et al. 2013).

Both compare thin regions around the contours instead of whole masks, so they stay
sensitive to boundary quality for large objects, where IoU and Dice saturate.  Inputs,
``include_background``, ``both_empty`` and ``reduction`` as in :mod:`segmath.distance.surface`;
exactly one empty mask scores 0.
"""
from __future__ import annotations

__all__ = ["boundary_iou", "boundary_f1"]

import math

from .. import primitives as P
from ..catalogue import register
from ..numerics import safe_divide
from ..primitives import edt as E
from ..validation import check_scalar
from .surface import _example_surface, with_common_args, check_empty, class_masks, count, finish, surfaces


def _pixels(m, ratio):
    """``ratio`` times the image diagonal in pixels, rounded, at least 1 (the boundary-IoU API's rule)."""
    return max(1, int(round(ratio * math.sqrt(sum(n * n for n in m.image)))))


def check_width(width, spacing):
    """A band narrower than the smallest spacing holds no element: every score would be NaN."""
    check_scalar(width, "width", low=0)
    if width < min(spacing):
        raise ValueError(f"width must be at least the smallest voxel spacing, {min(spacing)} (a narrower band "
                         f"holds no element, so every boundary IoU would be NaN); got {width!r}")


def inner_band(m, mask, width):
    """Elements of ``mask`` within ``width`` of its outside (the outside of the image counts)."""
    depth = E.edt(P.pad_spatial(mask, m.ndim), m.spacing, m.ndim, dtype=m.dtype)
    depth = depth[(slice(None),) * 2 + tuple(slice(1, n + 1) for n in m.spatial)]
    return mask & (depth <= width)


@register("boundary_iou", kind="metric", name="Boundary IoU", example=_example_surface,
          references=("cheng2021boundary",), chapter="09_boundaries",
          formula=r"BIoU = \frac{|(G_w \cap G) \cap (P_w \cap P)|}{|(G_w \cap G) \cup (P_w \cap P)|}")
@with_common_args
def boundary_iou(input, target, *, width=None, dilation_ratio=0.02, spacing=None, num_classes=None,
                 from_logits=True, threshold=0.5, include_background=False, both_empty="nan", reduction="mean"):
    r"""Boundary IoU: IoU of the inner boundary bands of width :math:`w`.

    .. math:: BIoU = \frac{|P_w \cap G_w|}{|P_w \cup G_w|}, \qquad
              X_w = \{x \in X : d(x, \Omega^c \cup X^c) \le w\}

    :math:`X_w` holds the elements of :math:`X` within Euclidean distance :math:`w` of an
    element outside :math:`X` (the outside of the image counts as outside, so objects
    touching the border have a band there, as in the reference code).  The reference
    implementation erodes with a 3x3 square ``w`` times, i.e. uses the chessboard distance;
    segmath uses the Euclidean distance, isotropic and aware of ``spacing``.

    Args:{common_args}
        width: band width :math:`w` in units of ``spacing``, at least the smallest spacing (a narrower
            band is empty); default ``dilation_ratio`` times the image diagonal in pixels, rounded,
            at least 1 (the paper's 0.02), times the smallest spacing.
        dilation_ratio: used when ``width`` is None.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 9, 9), int); y[0, 1:8, 1:8] = 1
        >>> x = np.zeros((1, 9, 9), int); x[0, 1:8, 1:7] = 1
        >>> round(float(segmath.boundary_iou(x, y, width=1.0, num_classes=2)), 4)  # 17 / 29
        0.5862
    """
    check_empty("nan", both_empty)
    m = class_masks(input, target, num_classes=num_classes, from_logits=from_logits, threshold=threshold,
                    include_background=include_background, spacing=spacing)
    if width is None:
        check_scalar(dilation_ratio, "dilation_ratio", low=0)
        width = _pixels(m, dilation_ratio) * min(m.spacing)
    check_width(width, m.spacing)
    xp = m.xp
    bp = m.flat(inner_band(m, m.pred, width))
    bt = m.flat(inner_band(m, m.true, width))
    inter = count(xp, bp & bt, m.dtype)
    union = count(xp, bp | bt, m.dtype)
    value = safe_divide(xp, inter, union)
    return finish(m, value, count(xp, bp, m.dtype), count(xp, bt, m.dtype), reduction, both_empty=both_empty)


@register("boundary_f1", kind="metric", name="Boundary F1 score (BF)", example=_example_surface,
          references=("csurka2013good",), chapter="09_boundaries",
          formula=r"BF = \frac{2\,\Pr\cdot\mathrm{Re}}{\Pr + \mathrm{Re}},\ "
                  r"\Pr = \frac{|\{x\in\partial P: d(x,\partial G)\le\theta\}|}{|\partial P|}")
@with_common_args
def boundary_f1(input, target, *, tolerance=None, tolerance_ratio=0.0075, spacing=None, num_classes=None,
                from_logits=True, threshold=0.5, include_background=False, both_empty="nan", connectivity=1,
                reduction="mean"):
    r"""Boundary F1 (BF) score: F1 of contour precision and recall at tolerance :math:`\theta`.

    .. math::
        \begin{aligned}
        \Pr &= \frac{|\{x\in\partial P: d(x,\partial G)\le\theta\}|}{|\partial P|},\\
        \mathrm{Re} &= \frac{|\{y\in\partial G: d(y,\partial P)\le\theta\}|}{|\partial G|},\\
        BF &= \frac{2\Pr\,\mathrm{Re}}{\Pr + \mathrm{Re}}
        \end{aligned}

    (0 when :math:`\Pr + \mathrm{Re} = 0`).  Contours as in :func:`segmath.hausdorff`.  The
    normalised surface Dice is the count-weighted mean of the same precision and recall,
    :math:`NSD = (|\partial P|\Pr + |\partial G|\mathrm{Re}) / (|\partial P| + |\partial G|)`;
    BF is their harmonic mean.

    Args:{common_args}
        tolerance: :math:`\theta` in units of ``spacing``; default ``tolerance_ratio`` times the
            physical image diagonal (Csurka et al.: 0.75 %).
        tolerance_ratio: used when ``tolerance`` is None.
        connectivity: of the erosion defining the contours.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 8, 8), int); y[0, 2:5, 2:5] = 1
        >>> float(segmath.boundary_f1(y, y, tolerance=0.0, num_classes=2))
        1.0
    """
    check_empty("nan", both_empty)
    m = class_masks(input, target, num_classes=num_classes, from_logits=from_logits, threshold=threshold,
                    include_background=include_background, spacing=spacing, connectivity=connectivity)
    if tolerance is None:
        check_scalar(tolerance_ratio, "tolerance_ratio", low=0)
        tolerance = tolerance_ratio * math.sqrt(sum((n * s) ** 2 for n, s in zip(m.image, m.spacing)))
    check_scalar(tolerance, "tolerance", low=0)
    xp = m.xp
    bp, bt, to_true, to_pred = surfaces(m, connectivity)
    n_p, n_t = count(xp, bp, m.dtype), count(xp, bt, m.dtype)
    prec = safe_divide(xp, count(xp, bp & (to_true <= tolerance), m.dtype), n_p)
    rec = safe_divide(xp, count(xp, bt & (to_pred <= tolerance), m.dtype), n_t)
    value = safe_divide(xp, 2.0 * prec * rec, prec + rec)   # 0 when both are 0
    return finish(m, value, n_p, n_t, reduction, both_empty=both_empty)
