r"""Lovász losses (Berman, Rannen Triki & Blaschko, CVPR 2018): convex surrogates of the Jaccard loss.

The Jaccard loss of one class, as a set function of the mispredicted pixels :math:`M`,
:math:`\Delta_J(M) = |M| / |G \cup M|`, is submodular; its Lovász extension
:math:`\bar\Delta_J` is then its tight convex closure, piecewise linear in a vector of pixel
errors :math:`m \in \mathbb{R}_+^S` and equal to :math:`\Delta_J` on 0/1 vectors.  Evaluating it
needs one sort of the errors (:func:`segmath.primitives.sorting.lovasz_jaccard`).

* :func:`lovasz_hinge`: binary, on logits, with hinge errors :math:`m_i = \max(0, 1 - x_i s_i)`,
  :math:`s_i = 2y_i - 1`.
* :func:`lovasz_softmax`: multi-class, on probabilities, errors :math:`m_i(c) = |y_{ic} - p_{ic}|`.

Both are batched: the ``(N, C, S)`` errors are sorted along ``S`` in one call (no Python loop over
images or classes).  ``aggregate="image"`` is Berman's ``per_image=True`` (one extension per image
and class, then the mean), ``aggregate="batch"`` pools the pixels of the batch (``per_image=False``,
the default of Berman's ``lovasz_softmax``).  Ignored pixels get error 0 and foreground 0, so they
drop out of the extension exactly.

Reduction over the ``(N, C)`` (or ``(1, C)``) table: only *counted* entries take part — classes
selected by ``classes`` (``"present"``: present in that image's, or the batch's, target) and
images with at least one counted entry; ``"mean"`` is the mean over counted images of the
weighted mean over counted classes (0 when nothing is counted), ``"sum"`` the weighted sum, and
``"none"`` the weighted table with 0 at uncounted entries.
"""
from __future__ import annotations

__all__ = ["lovasz_hinge", "lovasz_softmax"]

import numbers

from .. import examples as ex
from .. import primitives as P
from ..catalogue import NoForm, register
from ..inputs import make_pair
from .args import LOSS_ARGS
from ..primitives.sorting import lovasz_jaccard
from ..numerics import clip_negative
from ..reduce import check_aggregate, class_reduce
from ..validation import check_reduction, check_weight


def _rows(xp, x, aggregate):
    """(N, C, S) -> rows to sort: (N*C, S) per image, (C, N*S) pooled over the batch."""
    n, c, s = x.shape
    if aggregate == "image":
        return xp.reshape(x, (n * c, s))
    return xp.reshape(xp.permute_dims(x, (1, 0, 2)), (c, n * s))


def _extension_table(xp, errors, fg, aggregate):
    """Lovász extension of every (image, class) or (class) row, as an (N, C) or (1, C) table."""
    n, c, _ = errors.shape
    values = lovasz_jaccard(_rows(xp, errors, aggregate), _rows(xp, fg, aggregate))
    return xp.reshape(values, (n if aggregate == "image" else 1, c))


def _pooled(xp, table_nc, aggregate):
    return table_nc if aggregate == "image" else xp.sum(table_nc, axis=0, keepdims=True)


def _valid_rows(pair, aggregate):
    """(N, 1) or (1, 1) bool: images (or the batch) with at least one counted pixel."""
    return _pooled(pair.xp, pair.count(), aggregate) > 0


# -- Lovász hinge ------------------------------------------------------------------------

def _example_hinge(seed):
    x = ex.logits(seed, c=1)
    if seed % 2 == 0:
        return (x, ex.labels(seed, c=1, ignore_index=255)), {"ignore_index": 255}
    return (x, ex.labels(seed, c=1)), {"aggregate": "batch"}


@register("lovasz_hinge", kind="loss", name="Lovász hinge loss", example=_example_hinge,
          references=("berman2018lovasz", "yu2020lovasz"), chapter="06_lovasz",
          formula=r"L = \bar\Delta_J(m),\quad m_i = \max(0,\, 1 - x_i (2 y_i - 1))",
          symbolic=NoForm("Lovász extension of the Jaccard loss: piecewise linear in the sorted hinge errors "
                          "(the order changes with the input); no closed form per pixel or in pixel sums"),
          theorems=("verify_jaccard_submodular", "verify_lovasz_convex_closure"), tags=("binary", "multi-label"))
@LOSS_ARGS.fill
def lovasz_hinge(input, target, *, weight=None, ignore_index=None, aggregate="image", reduction="mean"):
    r"""Lovász hinge loss (Berman et al. 2018, after Yu & Blaschko): binary Jaccard surrogate on logits.

    .. math::
        \begin{aligned}
        L &= \bar\Delta_J(m) = \sum_k m_{\pi_k}\,\big(\Delta_J(\{\pi_1..\pi_k\}) - \Delta_J(\{\pi_1..\pi_{k-1}\})\big),\\
        m_i &= \max(0,\, 1 - x_i s_i),\quad s_i = 2 y_i - 1
        \end{aligned}

    :math:`\pi` sorts the hinge errors in decreasing order.  When every error is 0 or 1 (margins
    :math:`x_i s_i \ge 1` or :math:`= 0`) the loss is the Jaccard loss :math:`\Delta_J(M)` of the set
    :math:`M` of pixels with error 1: the extension agrees with the set function on the vertices.
    Each channel is its own binary problem (``C > 1``: multi-label).  For an image with an empty
    target the loss is the largest hinge error
    (:math:`\Delta_J = 1` for every non-empty :math:`M`), so false positives are penalised.

    Args:
        {args}
        input: ``(N, C, *spatial)`` logits (scores; the hinge needs the margin, not probabilities).
        target: ``(N, *spatial)`` labels in {0, 1} (``C = 1``) or ``(N, C, *spatial)`` 0/1 values.
        weight: per-channel weights ``(C,)`` for the channel mean.
        ignore_index: label value excluded (label targets only).
        aggregate: ``"image"`` (Berman's ``per_image=True``, his default for the hinge) or
            ``"batch"`` (one extension over all pixels of the batch).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the ``(N, C)`` or ``(1, C)`` table).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); x = np.where(y == 1, 1.0, -1.0)[:, None]
        >>> x[0, 0, 0, 0] = 0.0                        # one background pixel on the boundary: error 1
        >>> float(segmath.lovasz_hinge(x, y))          # = Delta_J({that pixel}) = 1 / |G u M| = 1/4
        0.25
    """
    check_aggregate(aggregate)
    check_reduction(reduction)
    pair = make_pair(input, target, from_logits=True, activation="sigmoid", ignore_index=ignore_index,
                     soft_target=False)
    xp = pair.xp
    w = check_weight(weight, pair.num_classes, pair.input)
    fg = pair.masked(pair.dense)
    margins = 1.0 - pair.input * (2.0 * pair.dense - 1.0)
    errors = pair.masked(clip_negative(xp, margins))   # the hinge; a NaN margin stays NaN
    table = _extension_table(xp, errors, fg, aggregate)
    return class_reduce(xp, table, reduction, w, counted=_valid_rows(pair, aggregate))


# -- Lovász-Softmax ----------------------------------------------------------------------

def _class_mask(xp, classes, present, num_classes):
    """(R, C) bool of counted classes for ``classes`` = "present" | "all" | sequence of class ids."""
    if isinstance(classes, str):
        if classes == "present":
            return present
        if classes == "all":
            return xp.ones_like(present)
    elif isinstance(classes, (list, tuple)) and classes and all(
            isinstance(k, numbers.Integral) and not isinstance(k, bool) and 0 <= k < num_classes for k in classes):
        chosen = P.asarray_like([k in classes for k in range(num_classes)], present, dtype=xp.bool)
        return xp.broadcast_to(chosen[None, :], present.shape)
    raise ValueError(f"classes must be 'present', 'all' or a non-empty list of class ids in "
                     f"[0, {num_classes - 1}]; got {classes!r}")


def _example_softmax(seed):
    if seed % 2 == 0:
        x, y = ex.multiclass(seed, c=4, ignore_index=-100)
        return (x, y), {"ignore_index": -100}
    x, y = ex.multiclass(seed, c=4)
    return (x, y), {"aggregate": "batch", "classes": "all", "weight": [0.5, 1.0, 1.0, 2.0]}


@register("lovasz_softmax", kind="loss", name="Lovász-Softmax loss", example=_example_softmax,
          references=("berman2018lovasz",), chapter="06_lovasz",
          formula=r"L = \frac{1}{|\mathcal{C}|}\sum_{c\in\mathcal{C}} \bar\Delta_{J_c}(m(c)),\quad "
                  r"m_i(c) = |y_{ic} - p_{ic}|",
          symbolic=NoForm("Lovász extension of the Jaccard loss: piecewise linear in the sorted errors |y - p| "
                          "(the order changes with the input); no closed form per pixel or in pixel sums"),
          theorems=("verify_jaccard_submodular", "verify_lovasz_convex_closure"), tags=("3d",))
@LOSS_ARGS.fill
def lovasz_softmax(input, target, *, classes="present", weight=None, ignore_index=None, from_logits=True,
                   activation=None, aggregate="image", reduction="mean"):
    r"""Lovász-Softmax loss (Berman et al. 2018): the Lovász extension of each class's Jaccard loss.

    .. math:: L = \frac{1}{|\mathcal{C}|}\sum_{c \in \mathcal{C}} \bar\Delta_{J_c}(m(c)),\qquad
              m_i(c) = |y_{ic} - p_{ic}| = \begin{cases} 1 - p_{ic} & y_i = c \\ p_{ic} & \text{else}\end{cases}

    On one-hot predictions it equals the mean Jaccard loss :math:`1 - IoU_c` over the classes
    :math:`\mathcal{C}`.  All ``(image, class)`` rows are sorted in one call and the Lovász gradient is
    built with cumulative sums (no loop over images or classes); the subgradient costs
    :math:`O(S \log S)` per row.

    Args:
        {args}
        input: ``(N, C, *spatial)`` logits (probabilities with ``from_logits=False``; Berman's
            function takes probabilities).  ``C = 1`` is binary (sigmoid, the channel is the
            foreground) and ``activation="sigmoid"`` multi-label.
        target: ``(N, *spatial)`` labels or ``(N, C, *spatial)`` hard 0/1 targets.
        classes: ``"present"`` (default: classes present in the target of that image, or of the batch
            for ``aggregate="batch"``), ``"all"``, or a list of class ids to average over.
        ignore_index: label value excluded from the loss.
        aggregate: ``"image"`` (per image, then the mean over images: Berman's ``per_image=True``)
            or ``"batch"`` (pixels pooled over the batch: his default ``per_image=False``).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (module docstring: counted entries only).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.stack([1 - y, y], 1).astype(float)
        >>> p[0, :, 0, 0] = [0.0, 1.0]                 # one pixel of class 0 predicted as 1
        >>> float(segmath.lovasz_softmax(p, y, from_logits=False))  # (IoU_0 = 0, IoU_1 = 3/4)
        0.625
    """
    check_aggregate(aggregate)
    check_reduction(reduction)
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index,
                     soft_target=False)
    xp = pair.xp
    w = check_weight(weight, pair.num_classes, pair.input)
    fg = pair.masked(pair.target_dense())
    errors = pair.masked(xp.abs(fg - pair.prob))
    table = _extension_table(xp, errors, fg, aggregate)
    present = _pooled(xp, xp.sum(fg, axis=2), aggregate) > 0
    counted = _class_mask(xp, classes, present, pair.num_classes) & _valid_rows(pair, aggregate)
    return class_reduce(xp, table, reduction, w, counted=counted)
