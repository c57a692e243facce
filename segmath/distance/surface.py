r"""Surface-distance metrics: Hausdorff, HD95 (three definitions), ASSD and normalised surface Dice.

**Surfaces.**  A mask's surface is its inner contour :math:`\partial G` (elements with a
face neighbour outside, the image border counting as outside; :func:`~segmath.boundary`),
as in MONAI's default and MedPy.  The directed distances are

.. math:: D_{P\to G} = \{ d(x, \partial G) : x \in \partial P \}, \qquad
          D_{G\to P} = \{ d(y, \partial P) : y \in \partial G \}

computed exactly by :func:`segmath.primitives.edt.nearest_distance`: on accelerators the
pure-torch EDT of the complement of the other surface, on the input's device; for host
arrays (NumPy, CPU tensors) SciPy, with a KD-tree over the surface elements when the
surfaces are sparse (as MONAI on CPU).  ``cpu_backend("torch")`` selects the torch path
on a CPU too; the two agree (tests).  ``definition="surface_weighted"`` uses
DeepMind surface-distance's representation instead: surface elements ("surfels") on the
grid of :math:`2^d`-voxel cells, each weighted by its marching-squares length / marching-
cubes area (the table is built from ``skimage.measure.marching_cubes`` and reproduces
DeepMind's; see :func:`surfel_table`).

**Inputs** as for the overlap metrics (:func:`segmath.metrics.confusion.hard_labels`):
``input`` scores ``(N, C, *spatial)`` (arg-max; ``C = 1`` thresholded) or hard labels
``(N, *spatial)`` with ``num_classes``; ``target`` labels ``(N, *spatial)``.  Each class
gives one pair of binary masks; the result is ``(N, K)`` with ``K = C - 1`` classes
(``include_background=False``, the default, as MONAI) or ``C``.

**Empty masks** (named options; other libraries disagree, LIBRARIES.md section 3):

* ``both_empty``: the value when neither mask has the class: ``"nan"`` (default; left
  out of ``reduction="mean"``, like MONAI's ``not_nans``) or a number (0 is common).
* ``empty``: the value of a *distance* when exactly one mask is empty: ``"diagonal"``
  (default: the image diagonal :math:`\sqrt{\sum_k ((n_k - 1)s_k)^2}`, the largest
  distance inside the image, finite so means stay finite), ``"inf"`` (MONAI 1.6's value
  for the Hausdorff distance and ASSD, with a warning) or ``"nan"`` (MONAI's value for the
  percentile Hausdorff distance).  MedPy raises, seg-metrics returns 0.
  Similarity scores (NSD, boundary IoU, BF) are 0 there by their formula.
"""
from __future__ import annotations

__all__ = ["hausdorff", "hd95", "assd", "nsd"]

import functools
import itertools
import math
import numbers

import numpy as np

from .. import examples as ex
from .. import primitives as P
from ..catalogue import register
from ..inputs import hard_labels
from ..metrics.confusion import score_guard, with_guard
from ..numerics import safe_divide
from ..primitives import edt as E, morphology as M
from ..validation import check_choice, check_reduction, check_scalar, check_spacing

EMPTY = ("diagonal", "inf", "nan")
NOT_USED = object()   # a metric without a connectivity option


# -- shared set-up -------------------------------------------------------------

def _compiling():
    import torch
    return torch.compiler.is_compiling()


class Masks:
    """Binary masks per (image, class): ``pred``, ``true`` ``(N, K, *spatial)`` bool."""

    def __init__(self, xp, pred, true, dtype, spatial, spacing):
        self.xp, self.pred, self.true, self.dtype = xp, pred, true, dtype
        self.spatial, self.spacing, self.ndim = spatial, spacing, len(spatial)
        self.image = spatial          # the full image (spatial may shrink to a crop)
        self.guard = None             # 0-d NaN when a score was NaN/inf (value checks off)

    @property
    def diagonal(self):
        return math.sqrt(sum(((n - 1) * s) ** 2 for n, s in zip(self.image, self.spacing)))

    def crop(self):
        """Restrict to the bounding box of every mask plus a one-element margin (host-side arrays only).

        Exact for every metric here: all contour elements lie inside the box, and the margin
        (or the image border) keeps the outside of every mask outside.  Finding the box reads
        data back and gives a shape that depends on the data, so it is skipped for tensors on
        an accelerator, where the dense transform is cheap anyway, and under ``torch.compile``,
        where the metric then runs on the full grid with the sync-free ``"bisect"`` EDT (the
        same distances: the crop changes no value).
        """
        if P.is_torch(self.pred) and (self.pred.device.type != "cpu" or _compiling()):
            return self
        used = P.to_numpy(self.xp.any(self.pred | self.true, axis=(0, 1)))
        if not used.any():
            return self
        box = []
        for axis, n in enumerate(self.spatial):
            hit = np.nonzero(used.any(axis=tuple(a for a in range(self.ndim) if a != axis)))[0]
            box.append(slice(max(int(hit[0]) - 1, 0), min(int(hit[-1]) + 2, n)))
        index = (slice(None), slice(None)) + tuple(box)
        self.pred, self.true = self.pred[index], self.true[index]
        self.spatial = tuple(b.stop - b.start for b in box)
        return self

    def flat(self, x):
        return self.xp.reshape(x, tuple(x.shape[:2]) + (-1,))


def class_masks(input, target, *, num_classes=None, from_logits=True, threshold=0.5,
                include_background=False, spacing=None, connectivity=NOT_USED) -> Masks:
    """Validate the inputs and return one pair of binary masks per image and class.

    ``connectivity`` (of the erosion defining the surfaces) is checked as
    :func:`segmath.boundary` checks it: an integer in 1 .. the number of spatial axes.
    """
    hard = hard_labels(input, target, num_classes=num_classes, from_logits=from_logits, threshold=threshold)
    if not isinstance(include_background, bool):
        raise TypeError(f"include_background must be True or False, got {include_background!r}")
    xp, k = hard.xp, hard.num_classes
    spacing = check_spacing(spacing, len(hard.spatial))
    if connectivity is not NOT_USED:
        check_scalar(connectivity, "connectivity", low=1, high=len(hard.spatial), integer=True)
    first = 0 if include_background else 1
    classes = xp.reshape(xp.arange(first, k, device=P.device(hard.pred)), (1, -1, 1))
    shape = (hard.pred.shape[0], k - first) + tuple(hard.spatial)
    pred = xp.reshape(hard.pred[:, None, :] == classes, shape)
    true = xp.reshape(hard.true[:, None, :] == classes, shape)
    m = Masks(xp, pred, true, hard.dtype, tuple(hard.spatial), spacing)
    m.guard = score_guard(hard)
    return m.crop()


def surfaces(m: Masks, connectivity=1):
    """Inner contours and the distance of every contour element to the other mask's contour.

    Returns flattened ``(N, K, S)``: contour of pred, contour of true, distance to the
    true contour (on the pred contour), distance to the pred contour (on the true contour);
    ``inf`` where the other contour is empty.  Host arrays keep only the contour elements
    (:func:`~segmath.primitives.edt.compact`: ``S`` shrinks to the longest contour), which
    changes no masked reduction.
    """
    bp = m.pred & ~M.erode(m.pred, m.ndim, connectivity)
    bt = m.true & ~M.erode(m.true, m.ndim, connectivity)
    dist = directed(m, bp, bt)
    bp, to_true = E.compact(m.flat(bp), m.flat(dist[0]))
    bt, to_pred = E.compact(m.flat(bt), m.flat(dist[1]))
    return bp, bt, to_true, to_pred


def directed(m: Masks, sp, st):
    """Distances pred surface -> true surface and true -> pred, valid on ``sp`` / ``st`` (inf elsewhere).

    One batched call for both directions: on accelerators one EDT of the two complements;
    on the host a KD-tree over each surface (or SciPy's EDT when a surface is dense).
    """
    return E.surface_distances(sp, st, m.spacing, m.ndim, dtype=m.dtype)


def count(xp, mask, dtype):
    return xp.sum(xp.astype(mask, dtype), axis=-1)


def masked_max(xp, values, mask):
    return xp.max(xp.where(mask, values, xp.zeros_like(values)), axis=-1)


def masked_sum(xp, values, mask):
    return xp.sum(xp.where(mask, values, xp.zeros_like(values)), axis=-1)


def check_empty(empty, both_empty):
    check_choice(empty, "empty", EMPTY)
    if both_empty != "nan" and (isinstance(both_empty, bool) or not isinstance(both_empty, numbers.Real)):
        raise ValueError(f"both_empty must be 'nan' or a number, got {both_empty!r}")


def finish(m: Masks, value, n_pred, n_true, reduction, *, empty=None, both_empty="nan"):
    """Apply the empty-mask policy and the reduction to an ``(N, K)`` table."""
    xp = m.xp
    none_p, none_t = n_pred == 0, n_true == 0
    if empty is not None:
        fill = {"diagonal": m.diagonal, "inf": math.inf, "nan": math.nan}[empty]
        value = xp.where(none_p != none_t, xp.full_like(value, fill), value)
    both = math.nan if both_empty == "nan" else float(both_empty)
    value = xp.where(none_p & none_t, xp.full_like(value, both), value)
    return with_guard(xp, reduce_table(xp, value, reduction), m.guard)


def reduce_table(xp, value, reduction):
    """``none``: the (N, K) table; ``mean``/``sum``: over the entries that are not NaN."""
    check_reduction(reduction)
    if reduction == "none":
        return value
    keep = ~xp.isnan(value)
    total = xp.sum(xp.where(keep, value, xp.zeros_like(value)))
    if reduction == "sum":
        return total
    return safe_divide(xp, total, xp.sum(xp.astype(keep, value.dtype)), zero=math.nan)   # all NaN: NaN


def percentile_sorted(xp, ordered, n, q):
    """NumPy's default ('linear') percentile of the first ``n`` entries of each sorted row."""
    last = xp.clip(n - 1, 0, None)
    pos = last * (q / 100.0)
    lo = xp.floor(pos)
    frac = pos - lo
    lo_i = xp.astype(lo, xp.int64)
    hi_i = xp.astype(xp.minimum(lo + 1, last), xp.int64)
    a = P.take_along(ordered, lo_i[..., None], axis=-1)[..., 0]
    b = P.take_along(ordered, hi_i[..., None], axis=-1)[..., 0]
    # an empty set (n = 0) reads inf; make it 0 (the empty policy replaces it) to avoid inf - inf.
    # Only inf: a NaN distance must stay NaN
    a, b = (xp.where(xp.isinf(v), xp.zeros_like(v), v) for v in (a, b))
    # lerp written as NumPy writes it, so the two backends round alike
    return xp.where(frac >= 0.5, b - (b - a) * (1 - frac), a + (b - a) * frac)


def _inf_outside(xp, values, mask):
    return xp.where(mask, values, xp.full_like(values, math.inf))


def _sorted_masked(xp, values, mask):
    return xp.sort(_inf_outside(xp, values, mask), axis=-1)


# -- surfels: DeepMind surface-distance's representation -----------------------

@functools.lru_cache(maxsize=None)
def _unit_normals(ndim):
    """Per neighbourhood code: the (unscaled) normal vector of every surface piece in the cell.

    2-D: marching squares segments between edge midpoints; 3-D: marching-cubes triangles
    (``skimage.measure.marching_cubes``, classic Lorensen cases; codes with more than four
    inside corners use their complement's surface, so ambiguous cases resolve as in
    DeepMind surface-distance).  Bit ``b`` of a code is the corner ``itertools.product((0, 1),
    repeat=ndim)[b]``.
    """
    corners = list(itertools.product((0, 1), repeat=ndim))
    normals = []
    for code in range(2 ** len(corners)):
        bits = [(code >> b) & 1 for b in range(len(corners))]
        if sum(bits) > len(corners) // 2:
            bits = [1 - v for v in bits]
        cell = np.zeros((2,) * ndim)
        for c, v in zip(corners, bits):
            cell[c] = v
        normals.append(_cell_normals(cell, ndim))
    width = max(len(n) for n in normals)
    table = np.zeros((len(normals), max(width, 1), ndim))
    for code, n in enumerate(normals):
        if len(n):
            table[code, :len(n)] = n
    return table


def _cell_normals(cell, ndim):
    if cell.min() == cell.max():
        return np.zeros((0, ndim))
    if ndim == 3:
        from skimage.measure import marching_cubes
        verts, faces, _, _ = marching_cubes(cell, 0.5, method="lorensen")
        tri = verts[faces]
        return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]) / 2.0
    # 2-D marching squares: a segment joins the midpoints of the cell edges the contour crosses
    mids = []
    for a, b in [((0, 0), (0, 1)), ((0, 1), (1, 1)), ((1, 1), (1, 0)), ((1, 0), (0, 0))]:
        if cell[a] != cell[b]:
            mids.append((np.add(a, b) / 2.0))
    if len(mids) == 2:
        return np.array([mids[1] - mids[0]])
    # saddle (two diagonal corners inside): two segments, each cutting off one corner
    return np.array([[0.5, 0.5], [0.5, 0.5]])


def surfel_table(ndim, spacing):
    """Length (2-D) or area (3-D) of the surface in a cell, per neighbourhood code, in units of ``spacing``."""
    normals = _unit_normals(ndim)
    s = np.asarray(spacing, dtype=float)
    if ndim == 3:
        scale = np.array([s[1] * s[2], s[0] * s[2], s[0] * s[1]])   # cross product under diag(s)
    else:
        scale = s                                                   # a segment is stretched by diag(s)
    return np.linalg.norm(normals * scale, axis=-1).sum(-1)


def _constant_result(fn):
    """``torch.compiler.assume_constant_result`` without importing torch with segmath: that decorator
    only sets this attribute (torch 2.x; ``tests/test_metrics_compile.py`` checks it), and Dynamo
    then calls ``fn`` at trace time and keeps its result as a constant."""
    fn._dynamo_marked_constant = True
    return fn


@_constant_result
def surfel_constants(ndim, spacing):
    """:func:`surfel_table` as a tuple of floats, a constant to ``torch.compile`` (Dynamo would
    otherwise trace its NumPy and scikit-image code, whose branches depend on the cells)."""
    return tuple(float(v) for v in surfel_table(ndim, tuple(spacing)))


def surfels(m: Masks, mask):
    """Neighbourhood codes of the ``(n_k + 1)``-cells of a zero-padded mask (N, K, *cells)."""
    xp, nd = m.xp, m.ndim
    x = P.pad_spatial(xp.astype(mask, xp.int64), nd)
    code = xp.zeros_like(x[(slice(None),) * 2 + tuple(slice(0, n + 1) for n in m.spatial)])
    for b, c in enumerate(itertools.product((0, 1), repeat=nd)):
        code = code + x[(slice(None),) * 2 + tuple(slice(o, o + n + 1) for o, n in zip(c, m.spatial))] * (1 << b)
    return code


def surfel_distances(m: Masks, option):
    """Surfel areas and directed distances on the cell grid: flattened (N, K, S').

    Surfels (marching squares / cubes) exist for 2-D and 3-D images only, as in DeepMind
    surface-distance; ``option`` names the argument that asked for them in the error.
    """
    if m.ndim not in (2, 3):
        raise ValueError(f"{option} needs 2-D or 3-D images (surfels are marching-squares segments or "
                         f"marching-cubes triangles); the input has {m.ndim} spatial dimension(s): use the "
                         f"voxel definition there")
    xp = m.xp
    full = 2 ** (2 ** m.ndim) - 1
    cp, ct = surfels(m, m.pred), surfels(m, m.true)
    ep, et = (cp != 0) & (cp != full), (ct != 0) & (ct != full)
    table = P.asarray_like(surfel_constants(m.ndim, tuple(m.spacing)) if P.is_torch(cp) else
                           surfel_table(m.ndim, m.spacing), cp, dtype=m.dtype)
    area_p = xp.reshape(xp.take(table, xp.reshape(cp, (-1,))), cp.shape)
    area_t = xp.reshape(xp.take(table, xp.reshape(ct, (-1,))), ct.shape)
    dist = directed(m, ep, et)
    return (m.flat(ep), m.flat(et), m.flat(dist[0]), m.flat(dist[1]),
            m.flat(area_p), m.flat(area_t))


def weighted_percentile(xp, values, weights, mask, q):
    """DeepMind's robust distance: the smallest value whose cumulative weight share reaches q %."""
    order = xp.argsort(xp.where(mask, values, xp.full_like(values, math.inf)), axis=-1)
    v = P.take_along(values, order, axis=-1)
    w = P.take_along(xp.where(mask, weights, xp.zeros_like(weights)), order, axis=-1)
    share = safe_divide(xp, xp.cumulative_sum(w, axis=-1), xp.sum(w, axis=-1)[..., None])
    n = xp.sum(xp.astype(mask, xp.int64), axis=-1)
    idx = xp.sum(xp.astype(share < q / 100.0, xp.int64), axis=-1)
    idx = xp.minimum(idx, xp.clip(n - 1, 0, None))
    return P.take_along(v, idx[..., None], axis=-1)[..., 0]


# -- metrics -----------------------------------------------------------------

def _example_surface(seed):
    x, y = ex.multiclass(seed, n=2, c=3, spatial=(9, 10))
    return (x, y), {"spacing": (1.0, 1.3)}


_COMMON_ARGS = r"""
        input: ``(N, C, *spatial)`` scores (arg-max; ``C = 1``: probability > ``threshold``) or
            hard labels ``(N, *spatial)`` with ``num_classes``.
        target: ``(N, *spatial)`` integer labels (or one-hot ``(N, C, *spatial)``).
        spacing: voxel size, a number or one per spatial axis (default 1).
        include_background: also score class 0 (default False).
        both_empty: value when neither mask has the class (``"nan"``: skipped by the mean).
        reduction: ``"none"`` (the ``(N, K)`` table), ``"mean"`` or ``"sum"`` over non-NaN entries."""


def with_common_args(fn):
    """Fill the ``{common_args}`` slot of a surface metric's docstring (a ``+`` there would stop
    the string from being a docstring at all)."""
    fn.__doc__ = fn.__doc__.replace("{common_args}", _COMMON_ARGS)
    return fn


@register("hausdorff", kind="metric", name="Hausdorff distance", example=_example_surface,
          references=("huttenlocher1993comparing",), chapter="09_boundaries",
          formula=r"HD = \max\big(\max_{x\in\partial P} d(x,\partial G),\ \max_{y\in\partial G} d(y,\partial P)\big)",
          theorems=("verify_dt_hausdorff_convex_nested", "verify_dt_hausdorff_counterexample"))
@with_common_args
def hausdorff(input, target, *, spacing=None, num_classes=None, from_logits=True, threshold=0.5,
              include_background=False, empty="diagonal", both_empty="nan", connectivity=1, reduction="mean"):
    r"""Hausdorff distance between the predicted and the true surfaces, per image and class.

    .. math:: HD(P, G) = \max\Big(\max_{x\in\partial P} d(x, \partial G),\
              \max_{y\in\partial G} d(y, \partial P)\Big)

    Args:{common_args}
        empty: distance when exactly one mask is empty: ``"diagonal"``, ``"inf"``, ``"nan"``.
        connectivity: of the erosion defining the surfaces (1: face neighbours).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 8, 8), int); y[0, 2:5, 2:5] = 1
        >>> x = np.zeros((1, 8, 8), int); x[0, 2:5, 2:7] = 1
        >>> float(segmath.hausdorff(x, y, num_classes=2))
        2.0
    """
    check_empty(empty, both_empty)
    m = class_masks(input, target, num_classes=num_classes, from_logits=from_logits, threshold=threshold,
                    include_background=include_background, spacing=spacing, connectivity=connectivity)
    xp = m.xp
    bp, bt, to_true, to_pred = surfaces(m, connectivity)
    value = xp.maximum(masked_max(xp, to_true, bp), masked_max(xp, to_pred, bt))
    return finish(m, value, count(xp, bp, m.dtype), count(xp, bt, m.dtype), reduction,
                  empty=empty, both_empty=both_empty)


HD95_DEFINITIONS = ("max_directed", "pooled", "surface_weighted")


@register("hd95", kind="metric", name="95th-percentile Hausdorff distance", example=_example_surface,
          references=("huttenlocher1993comparing", "nikolov2021clinically"), chapter="09_boundaries",
          formula=r"HD_{95} = \max\big(q_{95}(D_{P\to G}),\ q_{95}(D_{G\to P})\big)")
@with_common_args
def hd95(input, target, *, spacing=None, percentile=95.0, definition="max_directed", num_classes=None,
         from_logits=True, threshold=0.5, include_background=False, empty="diagonal", both_empty="nan",
         connectivity=1, reduction="mean"):
    r"""Robust Hausdorff distance: a percentile of the surface distances, three definitions.

    .. math::
        \begin{aligned}
        \text{max\_directed: }\ & \max\big(q(D_{P\to G}),\ q(D_{G\to P})\big),\\
        \text{pooled: }\ & q(D_{P\to G} \cup D_{G\to P})
        \end{aligned}

    * ``"max_directed"`` (default; MONAI, and DeepMind's definition): the larger of the two
      directed percentiles (NumPy's linear interpolation).
    * ``"pooled"`` (MedPy, seg-metrics): the percentile of both sets together.  Much
      smaller when one direction has few, far outliers.
    * ``"surface_weighted"`` (DeepMind surface-distance): surfels on the cell grid, each
      weighted by its length/area; the smallest distance whose cumulative weight share
      reaches ``percentile``; the larger of the two directions.

    Args:{common_args}
        percentile: in [0, 100] (95 by default; 100 gives the Hausdorff distance).
        definition: ``"max_directed"``, ``"pooled"`` or ``"surface_weighted"``.
        empty: distance when exactly one mask is empty: ``"diagonal"``, ``"inf"``, ``"nan"``.
        connectivity: of the erosion defining the surfaces (voxel definitions).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 8, 8), int); y[0, 2:5, 2:5] = 1
        >>> float(segmath.hd95(y, y, num_classes=2))
        0.0
    """
    check_scalar(percentile, "percentile", low=0, high=100)
    check_choice(definition, "definition", HD95_DEFINITIONS)
    check_empty(empty, both_empty)
    m = class_masks(input, target, num_classes=num_classes, from_logits=from_logits, threshold=threshold,
                    include_background=include_background, spacing=spacing, connectivity=connectivity)
    xp = m.xp
    if definition == "surface_weighted":
        ep, et, to_true, to_pred, area_p, area_t = surfel_distances(m, "definition='surface_weighted'")
        value = xp.maximum(weighted_percentile(xp, to_true, area_p, ep, percentile),
                           weighted_percentile(xp, to_pred, area_t, et, percentile))
        return finish(m, value, count(xp, ep, m.dtype), count(xp, et, m.dtype), reduction,
                      empty=empty, both_empty=both_empty)
    bp, bt, to_true, to_pred = surfaces(m, connectivity)
    n_p, n_t = count(xp, bp, m.dtype), count(xp, bt, m.dtype)
    if definition == "pooled":
        both = xp.concat([_inf_outside(xp, to_true, bp), _inf_outside(xp, to_pred, bt)], axis=-1)
        value = percentile_sorted(xp, xp.sort(both, axis=-1), n_p + n_t, percentile)
    else:
        value = xp.maximum(percentile_sorted(xp, _sorted_masked(xp, to_true, bp), n_p, percentile),
                           percentile_sorted(xp, _sorted_masked(xp, to_pred, bt), n_t, percentile))
    return finish(m, value, n_p, n_t, reduction, empty=empty, both_empty=both_empty)


ASSD_DEFINITIONS = ("pooled", "mean_directed")


@register("assd", kind="metric", name="Average symmetric surface distance", example=_example_surface,
          references=("heimann2009comparison",), chapter="09_boundaries",
          formula=r"ASSD = \frac{\sum_{x\in\partial P} d(x,\partial G) + \sum_{y\in\partial G} d(y,\partial P)}"
                  r"{|\partial P| + |\partial G|}")
@with_common_args
def assd(input, target, *, spacing=None, definition="pooled", num_classes=None, from_logits=True,
         threshold=0.5, include_background=False, empty="diagonal", both_empty="nan", connectivity=1,
         reduction="mean"):
    r"""Average symmetric surface distance, per image and class.

    .. math::
        \begin{aligned}
        \text{pooled: }\ & \frac{\sum_{x\in\partial P} d(x,\partial G) + \sum_{y\in\partial G} d(y,\partial P)}{|\partial P| + |\partial G|},\\
        \text{mean\_directed: }\ & \tfrac12\big(\bar D_{P\to G} + \bar D_{G\to P}\big)
        \end{aligned}

    ``"pooled"`` (default) is MONAI's ``compute_average_surface_distance(symmetric=True)``:
    the mean of both sets of distances together.  ``"mean_directed"`` averages the two
    directed means, which weights the shorter surface more: MedPy's ``assd`` (the mean of
    its ``asd`` in both directions).  DeepMind surface-distance's two average distances
    weight each surfel by its area instead, so their mean is neither of these.

    Args:{common_args}
        definition: ``"pooled"`` or ``"mean_directed"``.
        empty: distance when exactly one mask is empty: ``"diagonal"``, ``"inf"``, ``"nan"``.
        connectivity: of the erosion defining the surfaces.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 8, 8), int); y[0, 2:5, 2:5] = 1
        >>> x = np.zeros((1, 8, 8), int); x[0, 2:5, 3:6] = 1
        >>> round(float(segmath.assd(x, y, num_classes=2)), 4)
        0.5
    """
    check_choice(definition, "definition", ASSD_DEFINITIONS)
    check_empty(empty, both_empty)
    m = class_masks(input, target, num_classes=num_classes, from_logits=from_logits, threshold=threshold,
                    include_background=include_background, spacing=spacing, connectivity=connectivity)
    xp = m.xp
    bp, bt, to_true, to_pred = surfaces(m, connectivity)
    n_p, n_t = count(xp, bp, m.dtype), count(xp, bt, m.dtype)
    s_p, s_t = masked_sum(xp, to_true, bp), masked_sum(xp, to_pred, bt)
    if definition == "pooled":
        value = safe_divide(xp, s_p + s_t, n_p + n_t)
    else:
        value = 0.5 * (safe_divide(xp, s_p, n_p) + safe_divide(xp, s_t, n_t))
    return finish(m, value, n_p, n_t, reduction, empty=empty, both_empty=both_empty)


@register("nsd", kind="metric", name="Normalised surface Dice", example=_example_surface,
          references=("nikolov2021clinically",), chapter="09_boundaries",
          formula=r"NSD_\tau = \frac{|\{x\in\partial P: d(x,\partial G)\le\tau\}| + "
                  r"|\{y\in\partial G: d(y,\partial P)\le\tau\}|}{|\partial P| + |\partial G|}")
@with_common_args
def nsd(input, target, *, tolerance=1.0, spacing=None, surface="voxel", num_classes=None, from_logits=True,
        threshold=0.5, include_background=False, both_empty="nan", connectivity=1, reduction="mean"):
    r"""Normalised surface Dice at tolerance :math:`\tau`: the share of both surfaces within :math:`\tau`.

    .. math:: NSD_\tau = \frac{|\{x\in\partial P: d(x,\partial G)\le\tau\}| +
              |\{y\in\partial G: d(y,\partial P)\le\tau\}|}{|\partial P| + |\partial G|}

    ``surface="voxel"`` counts contour voxels (MONAI's default); ``"subvoxel"`` weights
    DeepMind's surfels by their area (MONAI's ``use_subvoxels=True``).  Exactly one empty
    mask gives 0.

    Args:{common_args}
        tolerance: :math:`\tau \ge 0` in units of ``spacing``.
        surface: ``"voxel"`` or ``"subvoxel"``.
        connectivity: of the erosion defining the voxel surfaces.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 8, 8), int); y[0, 2:5, 2:5] = 1
        >>> x = np.zeros((1, 8, 8), int); x[0, 2:5, 3:6] = 1
        >>> float(segmath.nsd(x, y, tolerance=1.0, num_classes=2))
        1.0
    """
    check_scalar(tolerance, "tolerance", low=0)
    check_choice(surface, "surface", ("voxel", "subvoxel"))
    check_empty("nan", both_empty)
    m = class_masks(input, target, num_classes=num_classes, from_logits=from_logits, threshold=threshold,
                    include_background=include_background, spacing=spacing, connectivity=connectivity)
    xp = m.xp
    if surface == "subvoxel":
        ep, et, to_true, to_pred, area_p, area_t = surfel_distances(m, "surface='subvoxel'")
        wp, wt = xp.where(ep, area_p, xp.zeros_like(area_p)), xp.where(et, area_t, xp.zeros_like(area_t))
    else:
        ep, et, to_true, to_pred = surfaces(m, connectivity)
        wp, wt = xp.astype(ep, m.dtype), xp.astype(et, m.dtype)
    good = masked_sum(xp, wp, to_true <= tolerance) + masked_sum(xp, wt, to_pred <= tolerance)
    total = xp.sum(wp, axis=-1) + xp.sum(wt, axis=-1)
    value = safe_divide(xp, good, total)
    return finish(m, value, count(xp, ep, m.dtype), count(xp, et, m.dtype), reduction, both_empty=both_empty)
