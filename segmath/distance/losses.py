r"""Boundary- and distance-aware losses.

Every distance map is computed from the **target** (and, for :func:`hausdorff_dt` and
:func:`shape_aware`, from the thresholded prediction) with the exact EDT on the input's
device, and treated as a constant (no gradient flows through it), as in the papers.
Inputs follow :func:`segmath.inputs.make_pair`: ``input`` ``(N, C, *spatial)`` logits (or
probabilities with ``from_logits=False``), ``C = 1`` binary; ``target`` integer labels
``(N, *spatial)`` or hard per-class ``(N, C, *spatial)``.  Per-class losses reduce their
``(N, C)`` table with ``weight`` (``weight=[0, 1, ...]`` leaves out the background, as
the boundary-loss paper's foreground-only sum does).
"""
from __future__ import annotations

__all__ = ["hausdorff_dt", "boundary_distance_mse", "boundary_loss", "distance_penalized_ce",
           "unet_weighted_ce", "shape_aware", "structural_similarity", "cldice"]

import math

from .. import examples as ex
from .. import primitives as P
from ..catalogue import NoForm, register
from ..inputs import make_pair
from ..numerics import safe_divide
from ..losses.args import BOUNDARY_ARGS
from ..primitives import edt as E, morphology as M, components as CC
from ..reduce import check_aggregate, class_reduce, pixel_mean, pixel_reduce
from ..validation import check_choice, check_scalar, check_spacing, check_weight


# -- shared pieces ---------------------------------------------------------------

def _setup(input, target, *, from_logits, activation, ignore_index=None, spacing=None):
    pair = make_pair(input, target, from_logits=from_logits, activation=activation,
                     ignore_index=ignore_index, soft_target=False)
    return pair, check_spacing(spacing, len(pair.spatial))


def _grid(pair, x):
    """(N, C, S) -> (N, C, *spatial)."""
    return pair.xp.reshape(x, tuple(x.shape[:2]) + tuple(pair.spatial))


def _flat(pair, x):
    return pair.xp.reshape(x, tuple(x.shape[:2]) + (-1,))


def _given_map(pair, value, name, channels):
    """A precomputed per-pixel map ``(N, channels, *spatial)`` (``channels=None``: ``(N, *spatial)``),
    validated and flattened to ``(N, K, S)`` (``(N, S)``) in the loss's dtype, as a constant."""
    from ..validation import check_array, check_same_kind
    check_array(value, name, min_ndim=1, floating=True)
    check_same_kind(pair.input, value, "input", name)
    lead = (pair.batch,) if channels is None else (pair.batch, channels)
    want = lead + tuple(pair.spatial)
    if tuple(value.shape) != want:
        raise ValueError(f"{name} must have shape {want} to match input; got {tuple(value.shape)}")
    xp = pair.xp
    flat = xp.reshape(xp.astype(P.detach(value), pair.input.dtype, copy=False), lead + (-1,))
    return flat


def _finite_or_zero(xp, x):
    return xp.where(xp.isfinite(x), x, xp.zeros_like(x))


def _edt(pair, mask, spacing):
    """EDT of a bool (N, K, S) mask over the spatial axes, flattened back to (N, K, S)."""
    return _flat(pair, E.edt(_grid(pair, mask), spacing, len(pair.spatial), dtype=pair.input.dtype))


def _target_masks(pair):
    """Hard per-channel target masks (N, C, S) bool."""
    return P.detach(pair.target_dense()) > 0.5


def _class_masks(pair):
    """Per-class masks (N, K, S) of the label map: K = 2 (background, foreground) for C = 1."""
    xp = pair.xp
    t = _target_masks(pair)
    if pair.activation == "sigmoid" and pair.num_classes == 1:
        return xp.concat([~t, t], axis=1)
    return t


def _labels(pair):
    """(N, S) int labels of the target (0/1 for a binary problem)."""
    xp = pair.xp
    if pair.labels is not None:
        return pair.labels
    return xp.astype(xp.argmax(xp.astype(_class_masks(pair), xp.int8), axis=1), xp.int64)


def _hard_prediction(pair):
    """Per-channel hard prediction (N, C, S) bool from the detached probabilities."""
    xp = pair.xp
    p = P.detach(pair.prob)
    if pair.activation == "sigmoid":
        return p > 0.5
    best = xp.argmax(p, axis=1)
    classes = xp.reshape(xp.arange(pair.num_classes, device=P.device(best)), (1, -1, 1))
    return best[:, None, :] == classes


def _example_multiclass(seed, spatial=(6, 7)):
    x, y = ex.multiclass(seed, n=2, c=3, spatial=spatial)
    return (x, y), {}


def _example_binary(seed, spatial=(8, 8)):
    x, y = ex.binary(seed, n=2, spatial=spatial)
    return (x, y), {}


# -- Karimi & Salcudean ---------------------------------------------------------

def unsigned_field(pair, mask, spacing):
    """Distance to the other side of the mask's boundary, 0 when the mask is empty or full."""
    xp = pair.xp
    d = _edt(pair, mask, spacing) + _edt(pair, ~mask, spacing)
    return _finite_or_zero(xp, d)


@register("hausdorff_dt", kind="loss", name="Hausdorff distance-transform loss (Karimi & Salcudean)",
          example=_example_multiclass, references=("karimi2019reducing",), chapter="09_boundaries",
          formula=r"L = \frac{1}{|\Omega|}\sum_i (p_i - q_i)^2 \big(d_P(i)^\alpha + d_Q(i)^\alpha\big)",
          symbolic=NoForm("weights are distance transforms of the target and of the thresholded prediction "
                          "(minima over pixels, piecewise constant in the input); no closed form in p, y"),
          theorems=("verify_dt_hausdorff_convex_nested", "verify_dt_hausdorff_counterexample"))
@BOUNDARY_ARGS.fill
def hausdorff_dt(input, target, *, alpha=2.0, spacing=None, weight=None, ignore_index=None, from_logits=True,
                 activation=None, reduction="mean"):
    r"""Karimi & Salcudean's one-sided Hausdorff loss from distance transforms.

    .. math:: L_{nc} = \frac{1}{|\Omega|}\sum_i (p_{ic} - q_{ic})^2 \big(d_{P,c}(i)^\alpha + d_{Q,c}(i)^\alpha\big)

    :math:`d_{Q,c}` is the distance of each pixel to the far side of the target's class-``c``
    boundary (EDT of the mask plus EDT of its complement), :math:`d_{P,c}` the same for the
    prediction thresholded at 0.5 (arg-max for softmax is *not* used: each channel is
    thresholded, as in the paper and MONAI).  Both are constants; an empty or full mask
    gives a zero map.  Errors far from both boundaries cost most.

    Args:
        {args}
        alpha: exponent :math:`\alpha` (2 in the paper).
        weight: per-class weights for the class mean.
        ignore_index: label excluded from the mean (its pixels count as background for the maps).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the ``(N, C)`` table).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 6, 6), int); y[0, 2:4, 2:4] = 1
        >>> p = np.stack([1 - y, y], 1).astype(float)
        >>> float(segmath.hausdorff_dt(p, y, from_logits=False))
        0.0
    """
    check_scalar(alpha, "alpha", low=0)
    pair, spacing = _setup(input, target, from_logits=from_logits, activation=activation,
                           ignore_index=ignore_index, spacing=spacing)
    xp = pair.xp
    w = check_weight(weight, pair.num_classes, pair.input)
    q = pair.target_dense()
    dq = unsigned_field(pair, _target_masks(pair), spacing)
    dp = unsigned_field(pair, P.detach(pair.prob) > 0.5, spacing)
    per = (pair.prob - q) ** 2 * (dq ** alpha + dp ** alpha)
    return class_reduce(xp, pixel_mean(pair, per), reduction, w)


# -- the slides' boundary-weighted squared error --------------------------------

def label_boundary(pair):
    """(N, 1, S) bool: pixels on the inner contour of any class of the target label map."""
    xp = pair.xp
    masks = _grid(pair, _class_masks(pair))
    edge = masks & ~M.erode(masks, len(pair.spatial), 1)
    return _flat(pair, xp.any(edge, axis=1, keepdims=True))


@register("boundary_distance_mse", kind="loss", name="Boundary-distance weighted squared error (slides)",
          example=_example_multiclass, references=("karimi2019reducing",), chapter="09_boundaries",
          formula=r"L = \sum_{i}\sum_{k} (1 - \tilde D_i)^\alpha (P_{ik} - Y_{ik})^2",
          symbolic=NoForm("squared error weighted by a normalised distance transform of the target (a minimum "
                          "over pixels); no closed form in p, y"))
@BOUNDARY_ARGS.fill
def boundary_distance_mse(input, target, *, alpha=2.0, spacing=None, ignore_index=None, from_logits=True,
                          activation=None, reduction="mean"):
    r"""Squared error weighted by closeness to the target's boundaries (the course slides' form).

    .. math:: L = \sum_{i}\sum_{k} (1 - \tilde D_i)^\alpha (P_{ik} - Y_{ik})^2, \qquad
              \tilde D_i = \frac{D_i - \min_j D_j}{\max_j D_j - \min_j D_j}

    :math:`D_i` is the distance from pixel :math:`i` to the nearest boundary pixel of the
    target label map (the inner contours of all classes), min-max normalised per image, so
    pixels on a boundary weigh 1 and the pixel farthest from any boundary weighs 0.  An
    image without a boundary (or made only of boundary) uses :math:`\tilde D = 0`.
    ``reduction="sum"`` is the slides' sum; ``"mean"`` divides by the number of pixels.

    Args:
        {args}
        alpha: exponent on the weight.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, *spatial)``).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 5, 5), int); y[0, 1:4, 1:4] = 1
        >>> p = np.full((1, 1, 5, 5), 0.5)
        >>> round(float(segmath.boundary_distance_mse(p, y, from_logits=False, reduction="sum")), 4)
        6.0
    """
    check_scalar(alpha, "alpha", low=0)
    pair, spacing = _setup(input, target, from_logits=from_logits, activation=activation,
                           ignore_index=ignore_index, spacing=spacing)
    xp = pair.xp
    d = _edt(pair, ~label_boundary(pair), spacing)                       # (N, 1, S)
    finite = xp.isfinite(d)
    big = xp.max(xp.where(finite, d, xp.zeros_like(d)), axis=-1, keepdims=True)
    small = xp.min(xp.where(finite, d, xp.full_like(d, math.inf)), axis=-1, keepdims=True)
    span = big - small
    dn = xp.where(finite, safe_divide(xp, d - small, span), xp.zeros_like(d))
    per = xp.sum((1.0 - dn) ** alpha * (pair.prob - pair.target_dense()) ** 2, axis=1)
    return pixel_reduce(xp, per, reduction, valid=pair.valid, spatial=pair.spatial)


# -- Kervadec et al. ------------------------------------------------------------

def signed_field(pair, mask, spacing, convention):
    """Signed distance of every (N, C) target mask; 0 where a class is absent or fills the image."""
    xp = pair.xp
    d_in = _edt(pair, mask, spacing)
    d_out = _edt(pair, ~mask, spacing)
    offset = 1.0 if convention == "kervadec" else 0.0
    return _finite_or_zero(xp, xp.where(mask, offset - d_in, d_out))


@register("boundary_loss", kind="loss", name="Boundary loss (Kervadec et al.)", example=_example_multiclass,
          references=("kervadec2019boundary",), chapter="09_boundaries",
          formula=r"L = \frac{1}{|\Omega|}\sum_i \phi_G(i)\, s_\theta(i)",
          symbolic=NoForm("linear in p with the target's signed distance map as coefficients: the map is an exact "
                          "Euclidean distance transform of y (a minimum over pixels), not a closed form in p, y"),
          theorems=("verify_boundary_loss_identity",))
@BOUNDARY_ARGS.fill
def boundary_loss(input, target, *, spacing=None, convention="kervadec", weight=None, ignore_index=None,
                  from_logits=True, activation=None, reduction="mean", dist=None):
    r"""Kervadec et al.'s boundary loss: the prediction integrated against the target's signed distance.

    .. math:: L_{nc} = \frac{1}{|\Omega|}\sum_i \phi_{G_c}(i)\, s_{ic}

    :math:`\phi_G` is negative inside :math:`G` (:func:`segmath.signed_distance`; the default
    ``convention="kervadec"`` is the official code's and MONAI's, with inner boundary pixels
    at 0).  The loss is linear in :math:`s` and equals :math:`\sum\phi_G g + \sum_{S\triangle G}
    |\phi_G|` for a binary :math:`s` (:func:`segmath.theory.verify_boundary_loss_identity`), so
    it is minimised by :math:`s = G` -- and it is **negative** there: use it with a regional
    loss (Dice), as the paper does.  A class absent from (or filling) the image gives 0.

    Args:
        {args}
        convention: ``"kervadec"`` or ``"exact"`` (see :func:`segmath.signed_distance`).
        weight: per-class weights (``[0, 1, ...]``: foreground classes only, as the paper).
        ignore_index: label excluded from the mean.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the ``(N, C)`` table).
        dist: optional precomputed signed distance maps ``(N, C, *spatial)`` of the target's
            per-class masks, the way boundary-loss training code computes them once in the data
            loader: ``segmath.signed_distance(one_hot, ndim=d, convention="kervadec")``.  Entries
            that are not finite (an absent or full class) count as 0, as above; ``spacing`` and
            ``convention`` are then unused.  With it the loss is one product and a mean: no distance
            transform per step, and no host round trip on any device.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]])
        >>> p = np.stack([1 - y, y], 1).astype(float)
        >>> round(float(segmath.boundary_loss(p, y, from_logits=False, weight=[0, 1])), 4)  # centre: -(2-1)
        -0.04
    """
    check_choice(convention, "convention", ("kervadec", "exact"))
    pair, spacing = _setup(input, target, from_logits=from_logits, activation=activation,
                           ignore_index=ignore_index, spacing=spacing)
    w = check_weight(weight, pair.num_classes, pair.input)
    if dist is None:
        phi = signed_field(pair, _target_masks(pair), spacing, convention)
    else:
        phi = _finite_or_zero(pair.xp, _given_map(pair, dist, "dist", pair.num_classes))
    return class_reduce(pair.xp, pixel_mean(pair, phi * pair.prob), reduction, w)


# -- Caliva et al. ---------------------------------------------------------------

def inverted_depth(pair, masks, spacing):
    """Per mask: 1 - d / max d, d the distance to the mask's outside; 0 off the mask or if unbounded."""
    xp = pair.xp
    d = _edt(pair, masks, spacing)
    finite = xp.isfinite(d)
    top = xp.max(xp.where(finite & masks, d, xp.zeros_like(d)), axis=-1, keepdims=True)
    return xp.where(finite & masks, 1.0 - safe_divide(xp, d, top, zero=1.0), xp.zeros_like(d))


@register("distance_penalized_ce", kind="loss", name="Distance-map penalised cross-entropy (Caliva et al.)",
          example=_example_multiclass, references=("caliva2019distance",), chapter="09_boundaries",
          formula=r"L = -\frac{1}{|\Omega|}\sum_i (1 + \Phi_i) \log p_{i, y_i}",
          symbolic=NoForm("cross-entropy weighted by 1 + an inverted, normalised distance map of the target "
                          "(a minimum over pixels); no closed form in p, y"))
@BOUNDARY_ARGS.fill
def distance_penalized_ce(input, target, *, spacing=None, ignore_index=None, from_logits=True, activation=None,
                          reduction="mean"):
    r"""Cross-entropy weighted by ``1 + Φ``, Φ an inverted, normalised distance map of the target.

    .. math:: L = -\frac{1}{|\Omega|}\sum_i (1 + \Phi_i) \log p_{i, y_i}, \qquad
              \Phi_i = 1 - \frac{d_i}{\max_{j : y_j = y_i} d_j}

    :math:`d_i` is the distance from pixel :math:`i` to the nearest pixel of another class
    (per image), so :math:`\Phi` is close to 1 next to a boundary and 0 at the pixel
    deepest inside its region (Caliva et al.'s "reverted" distance transform, normalised
    per region).  For a binary or multi-label sigmoid the map is built per channel from
    the channel's foreground and background regions.

    Args:
        {args}
        ignore_index: label excluded from the loss and the mean.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, *spatial)``).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 2, 3, 3)); y = np.zeros((1, 3, 3), int)
        >>> round(float(segmath.distance_penalized_ce(x, y)), 6)  # one region filling the image: Phi = 0
        0.693147
    """
    pair, spacing = _setup(input, target, from_logits=from_logits, activation=activation,
                           ignore_index=ignore_index, spacing=spacing)
    xp = pair.xp
    if pair.activation == "sigmoid":
        t = _target_masks(pair)
        phi_in, phi_out = inverted_depth(pair, t, spacing), inverted_depth(pair, ~t, spacing)
        per = xp.sum((1.0 + phi_in + phi_out) * pair.nll_terms(), axis=1)
    else:
        phi = xp.sum(inverted_depth(pair, _target_masks(pair), spacing), axis=1)   # one region per pixel
        per = (1.0 + phi) * pair.nll()
    return pixel_reduce(xp, per, reduction, valid=pair.valid, spatial=pair.spatial)


# -- Ronneberger et al. ------------------------------------------------------------

def unet_weight_map(pair, spacing, *, w0, sigma, weight, balance):
    """(N, S) weight map w_c(x) + w0 exp(-(d1 + d2)^2 / 2 sigma^2) on the background (a constant)."""
    xp = pair.xp
    labels = _labels(pair)
    k = max(2, pair.num_classes)
    if weight is not None:
        wc = xp.take(weight, xp.reshape(labels, (-1,)))
        wc = xp.reshape(wc, labels.shape)
    elif balance:
        valid = xp.ones_like(labels, dtype=pair.input.dtype) if pair.valid is None else \
            xp.astype(pair.valid, pair.input.dtype)
        counts = P.class_sums(valid, labels, k)                       # (N, K) pixels per class
        present = xp.sum(xp.astype(counts > 0, counts.dtype), axis=1, keepdims=True)
        share = P.take_along(counts, labels, axis=1)                 # pixels of each pixel's class
        wc = safe_divide(xp, xp.sum(valid, axis=1, keepdims=True), present * share)   # 0 at ignored pixels
    else:
        wc = xp.ones_like(labels, dtype=pair.input.dtype)
    nd = len(pair.spatial)
    objects = CC.label(xp.reshape(labels != 0, (labels.shape[0],) + tuple(pair.spatial)), nd, 1)
    d1, d2 = CC.two_nearest(objects, spacing, nd, dtype=pair.input.dtype)
    d1 = xp.astype(xp.reshape(d1, labels.shape), pair.input.dtype)
    d2 = xp.astype(xp.reshape(d2, labels.shape), pair.input.dtype)
    gap = d1 + d2
    border = xp.where(xp.isfinite(gap) & (labels == 0),
                      w0 * xp.exp(-(xp.where(xp.isfinite(gap), gap, xp.zeros_like(gap)) ** 2) / (2.0 * sigma ** 2)),
                      xp.zeros_like(gap))
    return P.detach(wc + border)


@register("unet_weighted_ce", kind="loss", name="U-Net border-weighted cross-entropy (Ronneberger et al.)",
          example=lambda seed: _example_binary(seed, spatial=(9, 9)), references=("ronneberger2015unet",),
          chapter="09_boundaries",
          formula=r"L = -\frac{1}{|\Omega|}\sum_i w(i) \log p_{i, y_i},\ "
                  r"w = w_c + w_0 \exp\!\big(-\tfrac{(d_1 + d_2)^2}{2\sigma^2}\big)",
          symbolic=NoForm("cross-entropy weighted by class balance plus exp(-(d_1 + d_2)^2 / 2 sigma^2), d_k distances "
                          "to the nearest and second-nearest objects of the target: no closed form in p, y"))
@BOUNDARY_ARGS.fill
def unet_weighted_ce(input, target, *, w0=10.0, sigma=5.0, weight=None, balance=True, spacing=None,
                     ignore_index=None, from_logits=True, activation=None, reduction="mean", weight_map=None):
    r"""Cross-entropy with U-Net's weight map, which stresses the thin gaps between touching objects.

    .. math::
        \begin{aligned}
        L &= -\frac{1}{|\Omega|}\sum_i w(i) \log p_{i, y_i},\\
        w(i) &= w_c(i) + w_0 \exp\Big(-\frac{(d_1(i) + d_2(i))^2}{2\sigma^2}\Big)\,[y_i = 0]
        \end{aligned}

    Objects are the connected components (face connectivity) of the foreground
    :math:`y \ne 0`; :math:`d_1, d_2` are the distances to the nearest and the second-nearest
    object.  The border term is applied to background pixels (the separating gaps it is
    meant for) and vanishes with fewer than two objects.  :math:`w_c` balances classes:
    ``weight`` (per class) if given, else with ``balance=True`` the per-image
    :math:`|\Omega| / (K_{\text{present}} |\{y = y_i\}|)` (mean 1), else 1.  The map is a
    constant.  ``reduction="mean"`` divides by the number of pixels.

    Args:
        {args}
        w0, sigma: border weight and width (10 and 5 pixels in the paper; ``sigma`` in units of spacing).
        weight: fixed per-class weights :math:`w_c` (``C`` entries; 2 for a binary input).
        balance: per-image class balancing when ``weight`` is None.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, *spatial)``).
        weight_map: optional precomputed map ``(N, *spatial)``, as the U-Net paper computes it once
            per training image: :func:`unet_weight_map` of the pair, reshaped to the label shape.
            ``w0``, ``sigma``, ``weight``, ``balance`` and ``spacing`` are then unused.  Without it
            the connected components of the target are labelled every call: on tensors in a
            number of rounds fixed by the shape (``segmath.primitives.components.label``; no
            host read, so the loss traces whole under ``torch.compile``), about
            :math:`\tfrac12 \log_2^2 n` gathers for ``n`` pixels per image; the map saves that work.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 1, 7)); y[0, 0, [1, 2, 4, 5]] = 1   # two objects, one pixel apart
        >>> w = segmath.distance.losses.unet_weight_map(segmath.inputs.make_pair(np.zeros((1, 1, 1, 7)),
        ...     y.astype(int)), (1.0, 1.0), w0=10.0, sigma=5.0, weight=None, balance=False)
        >>> round(float(w[0, 3]), 4)  # 1 + 10 exp(-(1 + 1)^2 / 50)
        10.2312
    """
    check_scalar(w0, "w0", low=0)
    check_scalar(sigma, "sigma", low=0, low_open=True)
    if not isinstance(balance, bool):
        raise TypeError(f"balance must be True or False, got {balance!r}")
    pair, spacing = _setup(input, target, from_logits=from_logits, activation=activation,
                           ignore_index=ignore_index, spacing=spacing)
    if weight_map is not None:
        wmap = _given_map(pair, weight_map, "weight_map", None)
    else:
        w = check_weight(weight, max(2, pair.num_classes), pair.input)
        wmap = unet_weight_map(pair, spacing, w0=w0, sigma=sigma, weight=w, balance=balance)
    return pixel_reduce(pair.xp, wmap * pair.nll(), reduction, valid=pair.valid, spatial=pair.spatial)


# -- shape-aware (survey form) ------------------------------------------------------

def contour_gap(pair, spacing):
    """E[n, k]: mean distance from the predicted class-k contour to the true one (0 if undefined)."""
    xp = pair.xp
    nd = len(pair.spatial)
    pred = _hard_prediction(pair)
    true = _target_masks(pair)
    if pair.activation == "sigmoid" and pair.num_classes == 1:
        pred, true = xp.concat([~pred, pred], axis=1), xp.concat([~true, true], axis=1)
    gp, gt = _grid(pair, pred), _grid(pair, true)
    cp = _flat(pair, gp & ~M.erode(gp, nd, 1))
    ct = _flat(pair, gt & ~M.erode(gt, nd, 1))
    d = _edt(pair, ~ct, spacing)
    n = xp.sum(xp.astype(cp, d.dtype), axis=-1)
    total = xp.sum(xp.where(cp & xp.isfinite(d), d, xp.zeros_like(d)), axis=-1)
    return xp.where(xp.any(ct, axis=-1), safe_divide(xp, total, n), xp.zeros_like(n))


@register("shape_aware", kind="loss", name="Shape-aware cross-entropy (survey form)", example=_example_multiclass,
          references=("hayder2017boundary", "jadon2020survey"), chapter="09_boundaries",
          formula=r"L = -\frac{1}{|\Omega|}\sum_i (1 + E_{y_i}) \log p_{i, y_i},\ E_k = D(\hat C_k, C_k)",
          symbolic=NoForm("cross-entropy scaled by the mean point-to-contour distance between the predicted and "
                          "target contours: contours and distances are piecewise constant in the input"))
@BOUNDARY_ARGS.fill
def shape_aware(input, target, *, spacing=None, ignore_index=None, from_logits=True, activation=None,
                reduction="mean"):
    r"""Cross-entropy scaled by the average point-to-curve distance of the predicted contour.

    .. math:: L = -\frac{1}{|\Omega|}\sum_i \big(1 + E_{n, y_i}\big) \log p_{i, y_i}, \qquad
              E_{n,k} = \frac{1}{|\hat C_{n,k}|}\sum_{x\in\hat C_{n,k}} d(x, C_{n,k})

    The survey (Jadon 2020, after Hayder et al.) writes
    :math:`L = -\sum_i CE - \sum_i E_i\, CE` with :math:`E_i = D(\hat C, C_{GT})`, "the
    average point-to-curve Euclidean distance among points around the curve of the
    predicted segmentation to the ground truth", used as a coefficient of CE.  segmath
    reads this as: :math:`\hat C_{n,k}` the inner contour of the hard prediction of class
    :math:`k` in image :math:`n`, :math:`C_{n,k}` the target's, :math:`E_{n,k}` their
    directed mean distance (a constant, 0 when either contour is empty), applied to the
    pixels of true class :math:`k` (binary: classes background and foreground).

    Args:
        {args}
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, *spatial)``).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 6, 6), int); y[0, 1:4, 1:4] = 1
        >>> p = np.stack([1 - y, y], 1) * 0.8 + 0.1   # right shape: E = 0, plain CE = -log 0.9
        >>> round(float(segmath.shape_aware(p, y, from_logits=False)), 6)
        0.105361
    """
    pair, spacing = _setup(input, target, from_logits=from_logits, activation=activation,
                           ignore_index=ignore_index, spacing=spacing)
    xp = pair.xp
    gap = P.detach(contour_gap(pair, spacing))                 # (N, K)
    scale = 1.0 + P.take_along(gap, _labels(pair), axis=1)      # coefficient of each pixel's class
    return pixel_reduce(xp, scale * pair.nll(), reduction, valid=pair.valid, spatial=pair.spatial)


# -- Zhao et al.: correlation-maximised structural similarity ---------------------

def structural_error(pair, y, p, window, c4):
    """e = |(y - mu_y + C4)/(sigma_y + C4) - (p - mu_p + C4)/(sigma_p + C4)| with local statistics."""
    xp = pair.xp
    nd = len(pair.spatial)

    def standardised(v):
        g = _grid(pair, v)
        mu = M.box_mean(xp, g, nd, window)
        var = M.box_mean(xp, g * g, nd, window) - mu * mu
        flat = var <= 0   # not "var > 0": a NaN variance must stay NaN
        # sqrt has an infinite slope at 0 (flat windows, saturated logits): take 0 there, safely
        sigma = xp.where(flat, xp.zeros_like(var), xp.sqrt(xp.where(flat, xp.ones_like(var), var)))
        return _flat(pair, (g - mu + c4) / (sigma + c4))

    return xp.abs(standardised(y) - standardised(p))


@register("structural_similarity", kind="loss", name="Correlation-maximised structural similarity loss",
          example=_example_multiclass, references=("zhao2019correlation", "jadon2020survey"),
          chapter="09_boundaries",
          formula=r"L = \frac{1}{M}\sum_{i,c} e_{ic} f_{ic}\, \ell_{CE}(y_{ic}, p_{ic}),\ "
                  r"f_{ic} = [e_{ic} > \beta \max e]",
          symbolic=NoForm("windowed local means and variances with a data-dependent mask f = [e > beta max e]: "
                          "a max over pixels, piecewise in the input; no closed form in p, y per pixel or in sums"))
@BOUNDARY_ARGS.fill
def structural_similarity(input, target, *, window=3, beta=0.1, c4=0.01, ignore_index=None, from_logits=True,
                          activation=None, reduction="mean"):
    r"""Zhao et al.'s structural similarity loss: CE re-weighted where local correlation is low.

    .. math::
        \begin{aligned}
        e_{ic} &= \Big|\frac{y_{ic} - \mu_{y,ic} + C_4}{\sigma_{y,ic} + C_4} - \frac{p_{ic} - \mu_{p,ic} + C_4}{\sigma_{p,ic} + C_4}\Big|,\\
        f_{ic} &= [e_{ic} > \beta \max e],\\
        L &= \frac{1}{M}\sum_{n,i,c} e_{ic} f_{ic}\, \ell(y_{ic}, p_{ic})
        \end{aligned}

    :math:`\mu, \sigma` are the mean and standard deviation over a ``window``-wide box
    around each pixel (in-image pixels only); the standardised maps differ where the
    local structure of the prediction does not correlate with the target's.  :math:`\max e`
    is per image, :math:`M = \sum f` counts the selected (pixel, class) pairs, :math:`\ell`
    is :math:`-y\log p` (softmax) or the binary cross-entropy (sigmoid).  The gradient flows
    through :math:`e` and :math:`\ell`; the selection :math:`f`, :math:`\max e` and :math:`M`
    are piecewise constant (:math:`\sigma` is taken as 0, with zero slope, in flat windows).  Form and defaults
    (:math:`C_4 = 0.01`, :math:`\beta = 0.1`) as summarised in Jadon's survey.

    Args:
        {args}
        window: odd box width for the local statistics.
        beta: selection threshold relative to the largest error.
        c4: stabilising constant :math:`C_4`.
        reduction: ``"mean"`` (divide by :math:`M`), ``"sum"`` or ``"none"`` (``(N, *spatial)``).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 5, 5), int); y[0, 1:4, 1:4] = 1
        >>> p = np.stack([1 - y, y], 1).astype(float)
        >>> float(segmath.structural_similarity(p, y, from_logits=False))  # e = 0 everywhere
        0.0
    """
    check_scalar(window, "window", low=1, integer=True)
    if window % 2 == 0:
        raise ValueError(f"window must be odd, got {window}")
    check_scalar(beta, "beta", low=0, high=1)
    check_scalar(c4, "c4", low=0, low_open=True)
    pair, _ = _setup(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index)
    xp = pair.xp
    y = pair.target_dense()
    e = structural_error(pair, y, pair.prob, window, c4)
    top = P.detach(xp.max(xp.reshape(e, (e.shape[0], -1)), axis=1))[:, None, None]
    sel = e * xp.astype(P.detach(e) > beta * top, e.dtype)
    if pair.valid is not None:
        sel = sel * pair.valid_float()
    per = xp.sum(sel * pair.nll_terms(), axis=1)                       # (N, S)
    # the mean divides by M, the number of selected (pixel, class) pairs
    chosen = xp.sum(xp.astype(sel > 0, per.dtype), axis=1)
    return pixel_reduce(xp, per, reduction, norm=chosen, spatial=pair.spatial)


# -- Shit et al.: clDice -------------------------------------------------------------

def _soft_min_cross(xp, x, nd):
    """Min over the pixel and its 2*nd face neighbours (outside the image ignored)."""
    out = x
    for axis in range(nd):
        for sign in (-1, 1):
            off = [0] * nd
            off[axis] = sign
            out = xp.minimum(out, M._shifted(xp, x, nd, off, math.inf))
    return out


def _soft_max_box(xp, x, nd):
    """Max over the 3^nd box (separable: one axis after another)."""
    out = x
    for axis in range(nd):
        cur = out
        for sign in (-1, 1):
            off = [0] * nd
            off[axis] = sign
            out = xp.maximum(out, M._shifted(xp, cur, nd, off, -math.inf))
    return out


def soft_skeleton(xp, x, nd, iterations):
    """Shit et al.'s soft skeleton: iterated soft erosion minus soft opening, accumulated."""
    def opening(v):
        return _soft_max_box(xp, _soft_min_cross(xp, v, nd), nd)

    relu = lambda v: xp.maximum(v, xp.zeros_like(v))  # noqa: E731
    skel = relu(x - opening(x))
    for _ in range(iterations):
        x = _soft_min_cross(xp, x, nd)
        delta = relu(x - opening(x))
        skel = skel + relu(delta - skel * delta)
    return skel


@register("cldice", kind="loss", name="Soft clDice (Shit et al.)", example=_example_multiclass,
          references=("shit2021cldice",), chapter="09_boundaries",
          formula=r"L = 1 - \frac{2\,T_{prec} T_{sens}}{T_{prec} + T_{sens}},\ "
                  r"T_{prec} = \frac{\sum S_P Y + s}{\sum S_P + s},\ T_{sens} = \frac{\sum S_Y P + s}{\sum S_Y + s}",
          symbolic=NoForm("soft skeletons by iterated min/max pooling of p and y: piecewise in the input (which "
                          "neighbour attains each min or max changes); no closed form in p, y"))
@BOUNDARY_ARGS.fill
def cldice(input, target, *, iterations=3, smooth=1.0, alpha=None, weight=None, from_logits=True,
           activation=None, aggregate="image", reduction="mean"):
    r"""Soft clDice: Dice of each mask's soft skeleton against the other mask (topology-aware).

    .. math::
        \begin{aligned}
        T_{prec} &= \frac{\sum_i S_P(i) Y_i + s}{\sum_i S_P(i) + s},\quad
        T_{sens} = \frac{\sum_i S_Y(i) P_i + s}{\sum_i S_Y(i) + s},\\
        L &= 1 - \frac{2 T_{prec} T_{sens}}{T_{prec} + T_{sens}}
        \end{aligned}

    :math:`S_X` is the soft skeleton (``iterations`` soft erosions, min over the face
    neighbourhood; openings with a max over the :math:`3^d` box), differentiable in
    :math:`P`.  With ``alpha`` in [0, 1] the loss is :math:`(1-\alpha) L_{Dice} + \alpha L`
    (the paper's soft-Dice + clDice combination, :math:`L_{Dice} = 1 - (2\sum PY + s) /
    (\sum P + \sum Y + s)`).  Per image and class (``aggregate="batch"`` pools the sums over
    the batch), then ``weight``.

    Args:
        {args}
        iterations: skeleton iterations (3 in the paper's code; about the largest radius).
        smooth: :math:`s`.
        alpha: None (clDice only) or the clDice share of the soft-Dice + clDice mix.
        weight: per-class weights.
        aggregate: ``"image"`` or ``"batch"``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the ``(N, C)`` or ``(1, C)`` table).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.zeros((1, 7, 7), int); y[0, 3, 1:6] = 1
        >>> p = np.stack([1 - y, y], 1).astype(float)
        >>> float(segmath.cldice(p, y, from_logits=False, weight=[0, 1]))
        0.0
    """
    check_scalar(iterations, "iterations", low=0, integer=True)
    check_scalar(smooth, "smooth", low=0, low_open=True)
    if alpha is not None:
        check_scalar(alpha, "alpha", low=0, high=1)
    check_aggregate(aggregate)
    pair, _ = _setup(input, target, from_logits=from_logits, activation=activation)
    xp, nd = pair.xp, len(pair.spatial)
    w = check_weight(weight, pair.num_classes, pair.input)
    p, y = pair.prob, pair.target_dense()
    sp = _flat(pair, soft_skeleton(xp, _grid(pair, p), nd, iterations))
    sy = _flat(pair, soft_skeleton(xp, _grid(pair, y), nd, iterations))
    axes = (0, 2) if aggregate == "batch" else (2,)

    def total(v):
        out = xp.sum(v, axis=axes)
        return out[None, :] if aggregate == "batch" else out

    tprec = (total(sp * y) + smooth) / (total(sp) + smooth)
    tsens = (total(sy * p) + smooth) / (total(sy) + smooth)
    loss = 1.0 - 2.0 * tprec * tsens / (tprec + tsens)
    if alpha is not None:
        dice = 1.0 - (2.0 * total(p * y) + smooth) / (total(p) + total(y) + smooth)
        loss = (1.0 - alpha) * dice + alpha * loss
    return class_reduce(xp, loss, reduction, w)
