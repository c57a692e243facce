r"""Distance transforms of masks: the exact Euclidean distance transform, the signed distance
and the inner boundary.

Each runs on NumPy (SciPy) and on torch: pure tensor operations on the input's device
(:mod:`segmath.primitives.edt`); CPU tensors share memory with NumPy and take the SciPy
path unless ``segmath.primitives.edt.cpu_backend("torch")`` is active.  ``ndim`` says how many trailing axes are spatial; the
leading axes are a batch.  Its default is ``len(spacing)`` when ``spacing`` is a
sequence, else 2 (or 1 for a 1-D mask), so a ``(N, H, W)`` stack is a batch of images
and a 3-D volume needs ``ndim=3`` or a 3-entry ``spacing``.
"""
from __future__ import annotations

__all__ = ["edt", "signed_distance", "boundary"]

import numbers

import numpy as np

from .. import primitives as P
from ..catalogue import register
from ..primitives import edt as E, morphology as M
from ..metrics.confusion import with_guard
from ..validation import (check_array, check_choice, check_scalar, check_scores, check_spacing,
                          spacing_entries, value_checks_enabled)


def resolve_ndim(mask, spacing, ndim, name="mask"):
    """The number of spatial axes (see the module docstring), validated."""
    if ndim is None:
        if spacing is not None and (isinstance(spacing, bool) or not isinstance(spacing, numbers.Real)):
            ndim = len(spacing_entries(spacing))   # a string is a TypeError naming spacing
            if ndim > mask.ndim:
                raise ValueError(f"spacing has {ndim} entries (one per spatial axis) but {name} has only "
                                 f"{mask.ndim} dimensions, shape {tuple(mask.shape)}")
        else:
            ndim = min(2, mask.ndim)
    check_scalar(ndim, "ndim", low=1, high=mask.ndim, integer=True)
    return ndim


def _mask_args(mask, spacing, ndim):
    check_array(mask, "mask", min_ndim=1)
    check_finite_mask(mask)
    ndim = resolve_ndim(mask, spacing, ndim)
    return ndim, check_spacing(spacing, ndim)


def check_finite_mask(mask):
    """A mask is real (a complex one has no inside); a floating one must be finite (value checks on):
    is a NaN element inside or outside?"""
    xp = P.namespace(mask)
    if xp.isdtype(mask.dtype, "complex floating"):
        raise TypeError(f"mask must have a real or bool dtype, got {mask.dtype}")
    if xp.isdtype(mask.dtype, "real floating"):
        check_scores(mask, "mask")


def _guarded(mask, distances):
    """With value checks off, a NaN/inf mask element makes the distances NaN, not a number."""
    xp = P.namespace(mask)
    if value_checks_enabled() or not xp.isdtype(mask.dtype, "real floating"):
        return distances
    return with_guard(xp, distances, xp.sum(mask * 0.0))


def _example_mask(seed, shape=(2, 9, 11)):
    rng = np.random.default_rng(seed)
    m = (rng.random(shape) < 0.75).astype(np.float64)
    return (m,), {"spacing": (1.0, 1.5)}


@register("edt", kind="transform", name="Euclidean distance transform", example=_example_mask,
          references=("felzenszwalb2012distance", "meijster2000general"), chapter="09_boundaries",
          formula=r"\mathrm{edt}(x) = \min_{z:\ m(z) = 0} \big\| \mathrm{diag}(s)\,(x - z) \big\|_2")
def edt(mask, spacing=None, *, ndim=None):
    r"""Exact Euclidean distance from every non-zero element to the nearest zero.

    .. math:: \mathrm{edt}(x) = \min_{z:\ m(z)=0} \Big(\sum_k s_k^2 (x_k - z_k)^2\Big)^{1/2}

    The semantics of ``scipy.ndimage.distance_transform_edt`` (0 on zeros), batched over
    leading axes.  On an accelerator it is computed exactly by a separable algorithm in
    pure tensor operations on the mask's device (no SciPy, no host copy); CPU tensors use
    SciPy by default (same memory, faster there), or the same torch solvers under
    ``segmath.primitives.edt.cpu_backend("torch")``.
    An image without any zero is ``inf`` everywhere (SciPy returns an arbitrary finite map).

    Args:
        mask: ``(*batch, *spatial)`` array; non-zero elements get their distance.
        spacing: voxel size, a number or one per spatial axis (default 1).
        ndim: number of trailing spatial axes (default ``len(spacing)`` or 2).

    Returns:
        Distances with the mask's shape: the mask's floating dtype, else float64 (NumPy)
        or the default dtype (torch).

    Example:
        >>> import numpy as np, segmath
        >>> segmath.edt(np.array([[0, 1, 1, 1]]))
        array([[0., 1., 2., 3.]])
    """
    ndim, spacing = _mask_args(mask, spacing, ndim)
    return _guarded(mask, E.edt(mask, spacing, ndim))


SIGNED_CONVENTIONS = ("exact", "kervadec")


@register("signed_distance", kind="transform", name="Signed distance map", example=_example_mask,
          references=("kervadec2019boundary",), chapter="09_boundaries",
          formula=r"\phi(x) = d(x, G)\,[x \notin G] - d(x, \Omega\setminus G)\,[x \in G]",
          theorems=("verify_boundary_loss_identity",))
def signed_distance(mask, spacing=None, *, ndim=None, convention="exact"):
    r"""Signed distance to the mask's boundary, negative inside.

    .. math:: \phi(x) = \begin{cases} d(x, \Omega\setminus G) \cdot (-1) + c & x \in G \\
                                      d(x, G) & x \notin G \end{cases}

    where :math:`d(x, A)` is the Euclidean distance (pixel centres, ``spacing``) to the
    nearest element of :math:`A`.  ``convention="exact"`` (:math:`c = 0`): inner boundary
    pixels get :math:`-s`, outer ones :math:`+s`, nothing is 0.  ``convention="kervadec"``
    (:math:`c = 1`): the official boundary-loss code's ``-(d - 1)`` inside, so inner
    boundary pixels get 0 (with unit spacing) and receive no gradient in the boundary loss.
    A mask with no foreground is ``+inf`` everywhere, one with no background ``-inf``.

    Args:
        mask: ``(*batch, *spatial)`` array, non-zero = inside.
        spacing, ndim: as in :func:`edt`.
        convention: ``"exact"`` or ``"kervadec"``.

    Example:
        >>> import numpy as np, segmath
        >>> segmath.signed_distance(np.array([[0, 1, 1, 1, 0]]))
        array([[ 1., -1., -2., -1.,  1.]])
    """
    check_choice(convention, "convention", SIGNED_CONVENTIONS)
    ndim, spacing = _mask_args(mask, spacing, ndim)
    xp = P.namespace(mask)
    inside = mask != 0
    dtype = E._result_dtype(mask)
    d_in = E.edt(inside, spacing, ndim, dtype=dtype)     # inside: distance to the nearest outside element
    d_out = E.edt(~inside, spacing, ndim, dtype=dtype)   # outside: distance to the nearest inside element
    offset = 1.0 if convention == "kervadec" else 0.0
    return _guarded(mask, xp.where(inside, offset - d_in, d_out))


def _example_boundary(seed):
    (m,), _ = _example_mask(seed)
    return (m,), {"connectivity": 1 + seed % 2}


@register("boundary", kind="transform", name="Inner boundary (contour)", example=_example_boundary,
          references=("huttenlocher1993comparing",), chapter="09_boundaries",
          formula=r"\partial G = G \setminus (G \ominus B)")
def boundary(mask, connectivity=1, *, ndim=None):
    r"""The inner contour of a mask: its elements with a neighbour outside it.

    .. math:: \partial G = G \setminus (G \ominus B_k)

    with :math:`B_k` the ``connectivity``-``k`` structuring element (``k = 1``: the
    :math:`2d` face neighbours; ``k = d``: all :math:`3^d - 1`).  The outside of the image
    counts as background, so mask elements on the image border are boundary elements
    (SciPy's ``binary_erosion`` with ``border_value=0``; MONAI's ``get_mask_edges``).

    Args:
        mask: ``(*batch, *spatial)`` array, non-zero = inside.
        connectivity: 1 .. ``ndim``.
        ndim: number of trailing spatial axes (default 2).

    Returns:
        A bool array of the mask's shape.  A floating mask must be finite; with value checks
        off a NaN element counts as inside (``!= 0``): a bool result cannot carry a NaN.

    Example:
        >>> import numpy as np, segmath
        >>> segmath.boundary(np.ones((3, 3))).astype(int)
        array([[1, 1, 1],
               [1, 0, 1],
               [1, 1, 1]])
    """
    check_array(mask, "mask", min_ndim=1)
    check_finite_mask(mask)
    ndim = resolve_ndim(mask, None, ndim)
    check_scalar(connectivity, "connectivity", low=1, high=ndim, integer=True)
    inside = mask != 0
    return inside & ~M.erode(inside, ndim, connectivity)
