r"""Distribution-based (per-pixel) losses: cross-entropy and its weighted, balanced, focal and top-k
variants, and the sensitivity-specificity loss.

All of them score each pixel on its own; they differ in how the pixels are weighted.

* ``cross_entropy`` / ``binary_cross_entropy``: every counted pixel alike (``weight`` rescales classes).
* ``weighted_cross_entropy``: fixed class weights :math:`w_k` (the seeds' :math:`-\sum w_k Y \log P`).
* ``balanced_cross_entropy``: :math:`w_k \propto 1/\pi_k` from the class frequencies of the target.
* ``focal``: the factor :math:`(1-p_t)^\gamma` down-weights well-classified pixels.
* ``topk_cross_entropy``: only the hardest fraction ``k`` of the pixels counts (OHEM).
* ``sensitivity_specificity``: squared errors averaged separately inside and outside each class.

Normalisation policy of the weighted losses: the mean divides by the total weight of the counted
pixels, :math:`\sum_i \sum_k w_k y_{ik}` (for hard labels :math:`\sum_i w_{y_i}`, the convention of
``torch.nn.functional.cross_entropy(weight=...)``).  ``reduction="none"`` returns the weighted per-pixel
loss map.

Empty policy.  An empty foreground is an ordinary target for these losses (every pixel still has a
class).  When nothing is counted at all (every pixel ignored), every loss here gives 0 with a zero
gradient (``torch.nn.functional.cross_entropy`` gives NaN there).
"""
from __future__ import annotations

__all__ = ["cross_entropy", "binary_cross_entropy", "weighted_cross_entropy", "balanced_cross_entropy",
           "focal", "topk_cross_entropy", "sensitivity_specificity"]

import numbers

from .. import examples as ex
from .. import primitives as P
from ..catalogue import Aggregate, NoForm, Pixel, Softmax, register
from ..inputs import make_pair
from .args import DISTRIBUTION_ARGS
from ..primitives.select import topk_mask
from ..numerics import safe_divide
from ..reduce import check_aggregate, class_reduce, pixel_reduce
from ..validation import check_choice, check_reduction, check_scalar, check_weight


# -- shared pieces ------------------------------------------------------------

def _per_pixel_ce(pair, weight=None):
    """(N, S) cross-entropy -sum_c w_c y_c log p_c, and the (N, S) per-pixel weight (or None).

    Only softmax with label targets returns the weight, the normaliser of torch's weighted mean;
    elsewhere ``weight`` rescales each channel's term.
    """
    if weight is None:
        return pair.nll(), None
    w = pair.xp.reshape(weight, (1, -1, 1))
    if pair.labels is not None:
        return pair.nll(), pair.target_weight(w)
    if pair.activation == "sigmoid":
        return pair.xp.sum(pair.nll_terms() * w, axis=1), None
    return pair.nll(w), None


def _weighted_terms(pair, w_pos, w_neg=None):
    """Class-weighted cross-entropy per pixel and the weight it carries, both (N, S).

    ``w_pos`` (B, C) with B in {1, N}: softmax class weights, or (sigmoid) the weight of each
    channel's positive term; ``w_neg`` (B, C): the weight of each channel's negative term
    (sigmoid only).  loss = -sum_c w y log p and norm = sum_c w y, so sum(loss) / sum(norm)
    is the weighted mean.
    """
    wp = w_pos[:, :, None]
    wn = None if w_neg is None else w_neg[:, :, None]
    return pair.nll(wp, wn), pair.target_weight(wp, wn)


def _fused_ce_applies(pair, reduction) -> bool:
    """torch logits with a softmax over label targets, reduced to a number: the fused kernel pair."""
    return (P.is_torch(pair.input) and pair.labels is not None and pair.from_logits
            and pair.activation == "softmax" and reduction in ("mean", "sum"))


def _fused_ce(pair, weight, reduction):
    r"""Cross-entropy of torch logits against labels, the weighted mean :math:`\sum_i w_{y_i}\ell_i / \sum_i w_{y_i}`
    (or the sum), by :func:`segmath.losses.fused.label_cross_entropy`: ``log_softmax`` and one ``nll_loss``
    kernel that reduces on the fly, returns the total weight of the counted pixels and handles
    ``ignore_index`` itself, with a closed-form backward (torch's ``cross_entropy`` without its NaN for
    an empty count).

    With a deferred label check (``make_pair(defer_label_check=True)``, a CPU tensor) the kernel's
    own bounds check is the range check (:meth:`~segmath.inputs.Pair.guarded`).  A label equal to the
    no-ignore sentinel (:math:`-2^{63}`) would be skipped by the kernel, so without ``ignore_index`` and
    without weights the total weight is compared with the pixel count (the same check, no extra
    pass), and with weights but no ``ignore_index`` the labels are checked before (:func:`_defer_ce_labels`).
    """
    from .fused import label_cross_entropy
    n, _, size = pair.input.shape
    total, count = pair.guarded(label_cross_entropy, pair.input, pair.raw_labels, weight, pair.ignore_index)
    if pair.deferred is not None and pair.ignore_index is None and weight is None and bool(count != n * size):
        pair.guarded(_raise_labels, pair)
    if reduction == "sum":
        return total
    if pair.ignore_index is None and weight is None:
        return total / float(n * size)      # the count is known from the shape
    return safe_divide(pair.xp, total, count)


def _raise_labels(pair):
    raise RuntimeError("a label outside [0, C) was skipped by the nll kernel")


def _defer_ce_labels(weight, ignore_index) -> bool:
    """Whether the CE label range check can ride on the nll kernel (see :func:`_fused_ce`)."""
    return weight is None or ignore_index is not None


def _check_pos_weight(pos_weight, num_classes, like):
    if isinstance(pos_weight, numbers.Real) and not isinstance(pos_weight, bool):
        pos_weight = [pos_weight] * num_classes
    return check_weight(pos_weight, num_classes, like, name="pos_weight")


# -- cross-entropy ------------------------------------------------------------

def _example_ce(seed):
    x, y = ex.multiclass(seed, ignore_index=-100)
    return (x, y), {"ignore_index": -100}


@register("cross_entropy", kind="loss", name="Cross-entropy", example=_example_ce,
          references=("long2015fully",), chapter="02_balanced",
          symbolic=Softmax("-y*log(p)"),
          theorems=("verify_log_loss_proper",), tags=("soft-target",))
@DISTRIBUTION_ARGS.fill
def cross_entropy(input, target, *, weight=None, ignore_index=None, from_logits=True, activation=None,
                  reduction="mean"):
    r"""Pixel-wise cross-entropy.

    .. math:: L = -\frac{1}{\sum_i w_{y_i}} \sum_i w_{y_i} \log p_{i, y_i}

    with :math:`p = \mathrm{softmax}(x)` over the class axis (sigmoid for one channel).
    Soft targets ``(N, C, *spatial)`` give :math:`-\sum_c y_{ic} \log p_{ic}`.

    Args:
        {args}
        input: ``(N, C, *spatial)`` logits (or probabilities with ``from_logits=False``).
        target: ``(N, *spatial)`` int labels or ``(N, C, *spatial)`` per-class values in [0, 1].
        weight: optional per-class weights ``(C,)``; with labels the mean is normalised by
            :math:`\sum_i w_{y_i}` as in ``torch.nn.functional.cross_entropy``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, *spatial)``).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 2, 2, 2)); y = np.zeros((1, 2, 2), dtype=int)
        >>> round(float(segmath.cross_entropy(x, y)), 6)  # log 2
        0.693147
    """
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index,
                     defer_label_check=_defer_ce_labels(weight, ignore_index))
    w = check_weight(weight, pair.num_classes, pair.input)
    if _fused_ce_applies(pair, reduction):
        return _fused_ce(pair, w, reduction)
    per, pixel_weight = pair.guarded(_per_pixel_ce, pair, w)
    return pixel_reduce(pair.xp, per, reduction, valid=pair.valid, pixel_weight=pixel_weight,
                        spatial=pair.spatial)


# -- binary cross-entropy -----------------------------------------------------

def _example_bce(seed):
    if seed % 2 == 0:  # binary, hard labels with ignored pixels
        x = ex.logits(seed, c=1)
        y = ex.labels(seed, c=1, ignore_index=255)
        return (x, y), {"ignore_index": 255, "pos_weight": 2.0}
    x = ex.logits(seed, c=3)  # multi-label, soft per-class targets
    y = ex.rng(seed).uniform(0.0, 1.0, size=x.shape)
    return (x, y), {"pos_weight": [1.0, 2.0, 3.0], "weight": [0.5, 1.0, 2.0]}


@register("binary_cross_entropy", kind="loss", name="Binary cross-entropy", example=_example_bce,
          references=("jadon2020survey",), chapter="02_balanced",
          symbolic=Pixel("-(y*log(p) + (1 - y)*log(1 - p))"),
          theorems=("verify_log_loss_proper",), tags=("binary", "multi-label", "soft-target"))
@DISTRIBUTION_ARGS.fill
def binary_cross_entropy(input, target, *, weight=None, pos_weight=None, ignore_index=None, from_logits=True,
                         activation="sigmoid", reduction="mean"):
    r"""Binary cross-entropy with a sigmoid on every channel (binary or multi-label).

    .. math:: \ell_{ic} = -w_c\left[\rho_c\, y_{ic}\log p_{ic} + (1-y_{ic})\log(1-p_{ic})\right],
              \qquad p_{ic} = \sigma(x_{ic}),

    averaged over every counted element (pixel and channel), as
    ``torch.nn.functional.binary_cross_entropy_with_logits``.  From logits it is evaluated as
    :math:`(1-y)\,x + (\rho y + 1 - y)\,\mathrm{softplus}(-x)` (as torch does), finite for any logit.

    Args:
        {args}
        input: ``(N, C, *spatial)`` logits (probabilities with ``from_logits=False``); ``C = 1`` is
            binary, ``C >= 2`` multi-label.
        target: ``(N, *spatial)`` labels in {0, 1} (``C = 1`` only) or ``(N, C, *spatial)`` values in
            [0, 1] (soft targets allowed).
        weight: per-channel rescaling ``(C,)`` (not a normaliser: the mean still divides by the count).
        pos_weight: :math:`\rho_c`, a number or ``(C,)``: the weight of the positive term
            (``> 1`` raises recall).
        ignore_index: label value excluded from the loss and the count (label targets only).
        activation: ``"sigmoid"`` (or ``None``); accepted for a uniform signature, a softmax is refused.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, C, *spatial)``).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 1, 2, 2)); y = np.array([[[0, 1], [1, 1]]])
        >>> round(float(segmath.binary_cross_entropy(x, y)), 6)  # log 2
        0.693147
    """
    check_choice(activation, "activation", (None, "sigmoid"))
    pair = make_pair(input, target, from_logits=from_logits, activation="sigmoid", ignore_index=ignore_index)
    xp, n, c = pair.xp, pair.batch, pair.num_classes
    w = check_weight(weight, c, pair.input)
    rho = _check_pos_weight(pos_weight, c, pair.input)
    y = pair.dense
    rho = None if rho is None else xp.reshape(rho, (1, -1, 1))
    if from_logits and w is None and pair.valid is None and reduction == "mean":   # the common case, fused
        if rho is None and P.is_torch(pair.input):
            from .fused import mean_bce_with_logits
            return mean_bce_with_logits(pair.input, y)
        return P.bce_from_logits(pair.input, y, rho, reduction="mean")
    per = pair.nll_terms(rho)
    if w is not None:
        per = per * xp.reshape(w, (1, -1, 1))
    # (N, C*S): with C = 1 this is (N, S) and the label mask applies directly
    return pixel_reduce(xp, xp.reshape(per, (n, -1)), reduction, valid=pair.valid, spatial=(c,) + pair.spatial)


# -- weighted cross-entropy ---------------------------------------------------

def _example_wce(seed):
    if seed % 2 == 0:
        x, y = ex.multiclass(seed, ignore_index=-100)
        return (x, y), {"weight": [0.2, 1.0, 3.0], "ignore_index": -100}
    x, y = ex.binary(seed)
    return (x, y), {"weight": [1.0, 4.0]}


@register("weighted_cross_entropy", kind="loss", name="Weighted cross-entropy", example=_example_wce,
          references=("long2015fully", "jadon2020survey"), chapter="03_imbalanced",
          symbolic=(Softmax("-weight*y*log(p)", per_class=("weight",)),
                    Pixel("-(weight[1]*y*log(p) + weight[0]*(1 - y)*log(1 - p))", label="binary",
                          per_class=("weight",))),
          theorems=("verify_weighted_ce_threshold",), tags=("soft-target",))
@DISTRIBUTION_ARGS.fill
def weighted_cross_entropy(input, target, *, weight, ignore_index=None, from_logits=True, activation=None,
                           normalize="weight", reduction="mean"):
    r"""Class-weighted cross-entropy :math:`-\sum_i \sum_k w_k\, y_{ik} \log p_{ik}`.

    .. math::
        \begin{aligned}
        L &= -\frac{\sum_i \sum_k w_k\, y_{ik}\log p_{ik}}{\sum_i \sum_k w_k\, y_{ik}} &&(\texttt{normalize="weight"}),\\
        L &= -\frac{1}{|\Omega|}\sum_i \sum_k w_k\, y_{ik}\log p_{ik} &&(\texttt{normalize="pixels"}).
        \end{aligned}

    The default is the weighted mean of ``torch.nn.functional.cross_entropy(weight=...)`` for hard
    labels; for soft targets it divides by the soft weight :math:`\sum_{i,k} w_k y_{ik}` (torch divides
    by the pixel count there, which is ``normalize="pixels"``).  ``reduction="sum"`` is the seeds' sum.

    Binary case (``C = 1``, sigmoid; also every channel of a multi-label ``activation="sigmoid"``):
    ``weight = (w_0, w_1)`` weighs negatives and positives,
    :math:`-[w_1 y\log p + w_0 (1-y)\log(1-p)]`, i.e. a positive weight :math:`w_1/w_0`.
    The minimiser of the expected loss is :math:`q^* = w_1\eta / (w_1\eta + w_0(1-\eta))`: thresholding
    at :math:`\frac12` becomes :math:`\eta > w_0/(w_0+w_1)` (``segmath.theory.verify_weighted_ce_threshold``).

    Args:
        {args}
        weight: required, ``(C,)`` class weights (``(2,)`` = (negative, positive) for sigmoid).
        normalize: ``"weight"`` (weighted mean, default) or ``"pixels"`` (divide by the counted pixels).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, *spatial)`` weighted per-pixel loss).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 2, 1, 2)); y = np.array([[[0, 1]]])
        >>> round(float(segmath.weighted_cross_entropy(x, y, weight=[1.0, 3.0])), 6)  # log 2
        0.693147
        >>> round(float(segmath.weighted_cross_entropy(x, y, weight=[1.0, 3.0], normalize="pixels")), 6)
        1.386294
    """
    if weight is None:   # check_weight reads None as "no weights"; here they are the point
        raise TypeError("weight is required for weighted_cross_entropy: (C,) class weights, got None")
    check_choice(normalize, "normalize", ("weight", "pixels"))
    pixels = normalize == "pixels"
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index,
                     defer_label_check=ignore_index is not None and not pixels)
    xp = pair.xp
    if not pixels and pair.activation == "softmax" and _fused_ce_applies(pair, reduction):
        return _fused_ce(pair, check_weight(weight, pair.num_classes, pair.input), reduction)
    if pair.activation == "sigmoid":
        w = check_weight(weight, 2, pair.input)
        loss, norm = _weighted_terms(pair, xp.reshape(w[1:], (1, 1)), xp.reshape(w[:1], (1, 1)))
    else:
        w = check_weight(weight, pair.num_classes, pair.input)
        loss, norm = _weighted_terms(pair, w[None, :])
    if normalize == "pixels":
        return pixel_reduce(xp, loss, reduction, valid=pair.valid, spatial=pair.spatial)
    return pixel_reduce(xp, loss, reduction, valid=pair.valid, norm=norm, spatial=pair.spatial)


# -- balanced cross-entropy ---------------------------------------------------

def _inverse(xp, counts):
    """1 / counts, and 0 for absent classes (their weight multiplies no pixel)."""
    return safe_divide(xp, xp.ones_like(counts), counts)


def _balanced_weights(pair, aggregate):
    """Class weights w_k proportional to 1/n_k, normalised to sum 1 over the present classes.

    Returns (w_pos, w_neg) of shape (N, C) or (1, C); w_neg only for sigmoid, where each channel
    is its own two-class problem (positives vs negatives) and w_pos = n_neg / n, HED's beta.
    """
    xp = pair.xp
    counted = pair.counted()
    if pair.labels is not None:
        pos = P.class_sums(counted, pair.labels, pair.num_classes)
    else:
        pos = xp.sum(pair.masked(pair.dense), axis=2)
    pos, n = P.detach(pos), xp.sum(counted, axis=1, keepdims=True)  # weights carry no gradient
    if aggregate == "batch":
        pos, n = xp.sum(pos, axis=0, keepdims=True), xp.sum(n, axis=0, keepdims=True)
    inv_pos = _inverse(xp, pos)
    if pair.activation == "sigmoid":
        inv_neg = _inverse(xp, n - pos)
        total = inv_pos + inv_neg
        return safe_divide(xp, inv_pos, total), safe_divide(xp, inv_neg, total)
    return safe_divide(xp, inv_pos, xp.sum(inv_pos, axis=1, keepdims=True)), None


def _example_balanced(seed):
    if seed % 2 == 0:
        x, y = ex.multiclass(seed, ignore_index=-100)
        return (x, y), {"ignore_index": -100}
    x = ex.logits(seed, c=1, spatial=(3, 4, 5))
    y = ex.labels(seed, c=1, spatial=(3, 4, 5), ignore_index=255)
    return (x, y), {"ignore_index": 255, "aggregate": "image"}


@register("balanced_cross_entropy", kind="loss", name="Balanced cross-entropy", example=_example_balanced,
          references=("xie2015holistically", "jadon2020survey"), chapter="03_imbalanced",
          symbolic=Aggregate("-((1 - S_y/n)*sum_i(y*log(p)) + S_y/n*sum_i((1 - y)*log(1 - p)))",
                             when={"reduction": "sum"}, soft_target=False),
          theorems=("verify_weighted_ce_threshold",), tags=("soft-target",))
@DISTRIBUTION_ARGS.fill
def balanced_cross_entropy(input, target, *, ignore_index=None, from_logits=True, activation=None,
                           aggregate="batch", reduction="mean"):
    r"""Cross-entropy with class weights :math:`w_k \propto 1/\pi_k` from the target's class frequencies.

    .. math:: w_k = \frac{1/\pi_k}{\sum_{j:\,\pi_j > 0} 1/\pi_j},\qquad
              L = -\frac{\sum_i \sum_k w_k\, y_{ik}\log p_{ik}}{\sum_i \sum_k w_k\, y_{ik}},

    where :math:`\pi_k` is the fraction of counted pixels of class :math:`k` (soft targets: the mean
    of :math:`y_{\cdot k}`).  For hard labels the mean equals the average, over the classes present,
    of each class's mean cross-entropy: every present class counts equally.

    Binary case (sigmoid, each channel on its own): the weights are HED's (Xie & Tu 2015),
    :math:`w_+ = \beta = |Y_-|/|Y|` and :math:`w_- = 1-\beta`, and ``reduction="sum"`` is exactly
    :math:`-\beta\sum_{Y_+}\log p - (1-\beta)\sum_{Y_-}\log(1-p)`.  With weights :math:`\propto 1/\pi`
    the Bayes rule becomes :math:`\eta > \pi` (``segmath.theory.verify_weighted_ce_threshold``).

    Empty policy: a class absent from the target gets weight 0 and the present classes share the
    normalisation, so an empty mask (no positives) gives the plain cross-entropy of the negatives:
    false positives are still penalised (HED's :math:`1-\beta = 0` would give a zero loss there).

    The weights are computed on the input's device from the target and carry no gradient.

    Args:
        {args}
        ignore_index: label value excluded from the frequencies, the loss and the normaliser.
        aggregate: ``"batch"`` (frequencies and mean pooled over the batch, default) or ``"image"``
            (per image, as HED, then the mean over images).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, *spatial)`` weighted per-pixel loss).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 1, 1, 4)); y = np.array([[[1, 0, 0, 0]]])
        >>> round(float(segmath.balanced_cross_entropy(x, y)), 6)  # log 2 at p = 1/2
        0.693147
        >>> float(segmath.balanced_cross_entropy(x, y, reduction="sum") / np.log(2))  # beta = 3/4, 1 - beta = 1/4
        1.5
    """
    check_aggregate(aggregate)
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index)
    w_pos, w_neg = _balanced_weights(pair, aggregate)
    loss, norm = _weighted_terms(pair, w_pos, w_neg)
    return pixel_reduce(pair.xp, loss, reduction, valid=pair.valid, norm=norm, spatial=pair.spatial,
                        per_image=aggregate == "image")


# -- focal loss ---------------------------------------------------------------

def _modulating(xp, logp, gamma):
    """(1 - p)^gamma from log p, for softmax probabilities.

    1 - p = -expm1(log p) has no cancellation near p = 1; it is floored at the smallest normal
    number so that log(1 - p) and the gradient of (1 - p)^gamma stay finite for gamma < 1
    (d/dp (1-p)^gamma = -gamma (1-p)^(gamma-1) blows up at p = 1; below the floor the gradient is 0).
    """
    floor = xp.asarray(xp.finfo(logp.dtype).tiny, dtype=logp.dtype, device=P.device(logp))
    one_minus = xp.maximum(-xp.expm1(logp), floor)
    return xp.exp(gamma * xp.log(one_minus))


def _focal_sigmoid(pair, gamma, alpha, weight):
    xp = pair.xp
    y, logp, log1mp = pair.dense, pair.log_prob(), pair.log_one_minus_prob()
    # (1 - p)^gamma = exp(gamma log sigma(-x)): exact from logits, finite gradient for any gamma >= 0
    pos = -y * xp.exp(gamma * log1mp) * logp
    neg = -(1.0 - y) * xp.exp(gamma * logp) * log1mp
    if alpha is not None:
        pos, neg = alpha * pos, (1.0 - alpha) * neg
    per = pos + neg
    if weight is not None:
        per = per * xp.reshape(weight, (1, -1, 1))
    return xp.sum(per, axis=1), None


def _focal_softmax(pair, gamma, weight):
    xp = pair.xp
    logp = pair.log_prob()
    if pair.labels is not None:
        logp_t = P.gather_class(logp, pair.labels)
        pixel_weight = None if weight is None else pair.target_weight(weight[None, :, None])
        return -_modulating(xp, logp_t, gamma) * logp_t, pixel_weight
    y = pair.dense if weight is None else pair.dense * xp.reshape(weight, (1, -1, 1))
    return -xp.sum(y * _modulating(xp, logp, gamma) * logp, axis=1), None


def _example_focal(seed):
    if seed % 2 == 0:
        x, y = ex.multiclass(seed, ignore_index=-100)
        return (x, y), {"gamma": 2.0, "weight": [0.5, 1.0, 2.0], "ignore_index": -100}
    x, y = ex.binary(seed)
    return (x, y), {"gamma": 1.5, "alpha": 0.25}


@register("focal", kind="loss", name="Focal loss", example=_example_focal,
          references=("lin2017focal",), chapter="05_focal",
          symbolic=(Pixel("-(y*(1 - p)**gamma*log(p) + (1 - y)*p**gamma*log(1 - p))"),
                    Pixel("-(alpha*y*(1 - p)**gamma*log(p) + (1 - alpha)*(1 - y)*p**gamma*log(1 - p))",
                          label="alpha"),
                    Softmax("-y*(1 - p)**gamma*log(p)", label="softmax")),
          theorems=("verify_focal_underconfident",), tags=("soft-target",))
@DISTRIBUTION_ARGS.fill
def focal(input, target, *, gamma=2.0, alpha=None, weight=None, ignore_index=None, from_logits=True,
          activation=None, reduction="mean"):
    r"""Focal loss (Lin et al. 2017): cross-entropy scaled by :math:`(1-p_t)^\gamma`.

    .. math:: \mathrm{FL}(p_t) = -\alpha_t\,(1-p_t)^{\gamma}\log p_t,

    :math:`p_t` the probability of the true class.  Sigmoid (binary / multi-label, per channel,
    summed over channels), with soft targets taken linearly:
    :math:`-\alpha\, y (1-p)^\gamma \log p - (1-\alpha)(1-y)\, p^\gamma \log(1-p)`.
    Softmax: :math:`-\sum_k w_k\, y_{ik} (1-p_{ik})^\gamma \log p_{ik}`.

    The seeds' binary form :math:`-(1-p)^a y\log p - p^a (1-y)\log(1-p)` is the sigmoid case with
    ``gamma = a`` and no ``alpha``.  ``gamma = 0`` (and no ``alpha``) is :func:`cross_entropy` exactly, with the same ``weight`` and
    normalisation; for ``gamma > 0`` the loss is at most the cross-entropy pixel by pixel.  Its
    minimiser is under-confident (``segmath.theory.verify_focal_underconfident``).

    Numerics: :math:`\log p_t` is a log-softmax / log-sigmoid, and :math:`(1-p_t)^\gamma` is
    :math:`\exp(\gamma\log(1-p_t))` with :math:`\log(1-p_t)` a log-sigmoid (sigmoid) or
    :math:`\log(-\mathrm{expm1}(\log p_t))` floored at the smallest normal number (softmax), so values and
    gradients stay finite at saturated logits even for :math:`\gamma < 1`.

    Conventions of other libraries: torchvision's ``sigmoid_focal_loss`` (``alpha=0.25`` default) and
    MONAI's ``FocalLoss`` agree with the sigmoid form for hard targets (MONAI and torchvision average
    over channels too, here channels are summed); MONAI's softmax ``alpha`` sequence is ``weight`` here.

    Args:
        {args}
        gamma: focusing exponent :math:`\gamma \ge 0` (2 in Lin et al.).
        alpha: sigmoid only: :math:`\alpha_t = \alpha` for positives and :math:`1-\alpha` for negatives
            (Lin et al. use 0.25); ``None`` means :math:`\alpha_t = 1`.  For softmax use ``weight``.
        weight: per-class weights ``(C,)``; as in :func:`cross_entropy`, with softmax and labels the
            mean is normalised by :math:`\sum_i w_{y_i}`, otherwise they only rescale.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (``(N, *spatial)``).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.array([[[[2.0]], [[0.0]]]]); y = np.array([[[0]]])   # p_t = 0.8808
        >>> round(float(segmath.focal(x, y, gamma=2.0)), 6)  # (1 - p_t)^2 * (-log p_t)
        0.001804
    """
    check_scalar(gamma, "gamma", low=0)
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index)
    w = check_weight(weight, pair.num_classes, pair.input)
    if alpha is not None:
        check_scalar(alpha, "alpha", low=0, high=1)
        if pair.activation != "sigmoid":
            raise ValueError("alpha weighs positives against negatives and applies to sigmoid outputs; "
                             "for a softmax give per-class weights with weight=(C,)")
    if pair.activation == "sigmoid":
        per, pixel_weight = _focal_sigmoid(pair, gamma, alpha, w)
    else:
        per, pixel_weight = _focal_softmax(pair, gamma, w)
    return pixel_reduce(pair.xp, per, reduction, valid=pair.valid, pixel_weight=pixel_weight,
                        spatial=pair.spatial)


# -- top-k (OHEM) cross-entropy -----------------------------------------------

_K_RESOLUTION = 1_000_000  # k is resolved to 1e-6 so that ceil(k * n) is exact integer arithmetic


def _example_topk(seed):
    if seed % 2 == 0:
        x, y = ex.multiclass(seed, ignore_index=-100)
        return (x, y), {"k": 0.2, "ignore_index": -100}
    x, y = ex.multiclass(seed, spatial=(3, 4, 5))
    return (x, y), {"k": 0.25, "aggregate": "batch", "weight": [1.0, 2.0, 0.5]}


@register("topk_cross_entropy", kind="loss", name="Top-k (OHEM) cross-entropy", example=_example_topk,
          references=("shrivastava2016training", "wu2016bridging", "isensee2021nnunet"), chapter="05_focal",
          formula=r"L = \frac{1}{\lceil k|\Omega|\rceil}\sum_{i \in \mathrm{top}_{k}} \ell_i,\quad "
                  r"\ell_i = -w_{y_i}\log p_{i,y_i}",
          symbolic=NoForm("the mean over the ceil(k n) largest per-pixel cross-entropies: a selection (sort) of the "
                          "pixels, piecewise in the input; on the selected pixels it is cross_entropy's form"),
          tags=("soft-target",))
@DISTRIBUTION_ARGS.fill
def topk_cross_entropy(input, target, *, k=0.1, aggregate="image", weight=None, ignore_index=None,
                       from_logits=True, activation=None, reduction="mean"):
    r"""Online hard-example mining: the mean cross-entropy of the hardest fraction ``k`` of the pixels.

    .. math:: L = \frac{1}{m}\sum_{i \in T} \ell_i,\qquad m = \lceil k\,|\Omega|\rceil,

    where :math:`\ell_i = -\sum_c w_c y_{ic}\log p_{ic}` is the (weighted) per-pixel cross-entropy
    and :math:`T` the :math:`m` pixels with the largest :math:`\ell_i` among the counted ones.
    ``aggregate="image"`` (default) selects per image and averages the images;
    ``aggregate="batch"`` selects over the whole batch (nnU-Net's ``TopKLoss``, which rounds
    :math:`k|\Omega|` down instead of up).  ``k = 1`` is :func:`cross_entropy` with unnormalised weights.
    The selection is a sort on the input's device (no host sync) and carries no gradient; the
    gradient flows through the selected :math:`\ell_i`.

    Args:
        {args}
        k: fraction of counted pixels kept, in (0, 1] (resolved to 1e-6); 0.1 as in nnU-Net.
        aggregate: ``"image"`` or ``"batch"`` (see above).
        weight: per-class weights ``(C,)`` multiplying each pixel's loss before the ranking.
        ignore_index: label value never selected and not counted in :math:`|\Omega|`.
        reduction: ``"mean"`` | ``"sum"`` (of the selected losses) | ``"none"`` (``(N, *spatial)`` map of
            the selected losses, 0 elsewhere).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 2, 1, 4)); x[0, 1] = [-3.0, -1.0, 1.0, 3.0]; y = np.zeros((1, 1, 4), dtype=int)
        >>> ce = segmath.cross_entropy(x, y, reduction="none")[0, 0]
        >>> bool(np.isclose(segmath.topk_cross_entropy(x, y, k=0.5), (ce[2] + ce[3]) / 2))
        True
    """
    check_scalar(k, "k", low=0, high=1, low_open=True)
    check_aggregate(aggregate)
    check_reduction(reduction)
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index)
    xp = pair.xp
    w = check_weight(weight, pair.num_classes, pair.input)
    per, pixel_weight = _per_pixel_ce(pair, w)
    if pixel_weight is not None:
        per = per * pixel_weight
    rows = per if aggregate == "image" else xp.reshape(per, (1, -1))
    # m = ceil(k n) per row, in exact integer arithmetic (k = 0.1, n = 30 must keep 3, not 4)
    k_int = max(round(k * _K_RESOLUTION), 1)
    key = P.detach(rows)
    key = xp.where(xp.isnan(key), xp.full_like(key, float("inf")), key)  # a NaN loss is the hardest pixel
    if pair.valid is None:  # same count in every row, known from the shape: a partial selection
        mask = topk_mask(key, (rows.shape[1] * k_int + _K_RESOLUTION - 1) // _K_RESOLUTION)
    else:  # counts differ per row and live on the device: rank by sorting, no host sync
        counted = xp.reshape(pair.valid, rows.shape)
        m = (xp.sum(xp.astype(counted, xp.int64), axis=1) * k_int + _K_RESOLUTION - 1) // _K_RESOLUTION
        mask = topk_mask(xp.where(counted, key, xp.full_like(rows, -float("inf"))), m)
    chosen = xp.where(mask, rows, xp.zeros_like(rows))
    if reduction == "none":
        return xp.reshape(chosen, (pair.batch,) + pair.spatial)
    # mask holds exactly m[r] pixels per row: the mean of the chosen ones is sum / sum(mask)
    return pixel_reduce(xp, chosen, reduction, norm=xp.astype(mask, rows.dtype), per_image=True)


# -- sensitivity-specificity --------------------------------------------------

def _squared_errors(pair):
    """Per (image, class): sum (y-p)^2 y, sum (y-p)^2 (1-y), sum y, and the counted pixels (N, 1)."""
    xp, p = pair.xp, pair.prob
    counted = pair.counted()
    if pair.labels is not None:
        c, labels = pair.num_classes, pair.labels
        p_t = P.gather_class(p, labels)
        err_pos = P.class_sums((1.0 - p_t) ** 2 * counted, labels, c)
        # sum of p_c^2 over the pixels of the other classes = all pixels minus the class's own
        err_neg = xp.sum(pair.masked(p * p), axis=2) - P.class_sums(p_t ** 2 * counted, labels, c)
        sy = P.class_sums(counted, labels, c)
    else:
        y = pair.dense
        e2 = (y - p) ** 2
        err_pos = xp.sum(pair.masked(e2 * y), axis=2)
        err_neg = xp.sum(pair.masked(e2 * (1.0 - y)), axis=2)
        sy = xp.sum(pair.masked(y), axis=2)
    return err_pos, err_neg, sy, xp.sum(counted, axis=1, keepdims=True)


def _example_ss(seed):
    if seed % 2 == 0:
        x, y = ex.multiclass(seed, ignore_index=-100)
        return (x, y), {"ignore_index": -100}
    x, y = ex.binary(seed)
    return (x, y), {"r": 0.3, "aggregate": "batch"}


@register("sensitivity_specificity", kind="loss", name="Sensitivity-specificity loss", example=_example_ss,
          references=("brosch2015deep",), chapter="03_imbalanced",
          symbolic=Aggregate("r*E_1/(S_y + smooth) + (1 - r)*E_0/(n - S_y + smooth)"),
          tags=("soft-target",))
@DISTRIBUTION_ARGS.fill
def sensitivity_specificity(input, target, *, r=0.05, smooth=1e-5, weight=None, ignore_index=None,
                            from_logits=True, activation=None, aggregate="image", reduction="mean"):
    r"""Sensitivity-specificity loss (Brosch et al. 2015), per image and class.

    .. math:: L_{nc} = r\,\frac{\sum_i (y_{ic}-p_{ic})^2\, y_{ic}}{\sum_i y_{ic} + s}
              + (1-r)\,\frac{\sum_i (y_{ic}-p_{ic})^2\,(1-y_{ic})}{\sum_i (1-y_{ic}) + s}

    The first term is a soft miss rate (1 - sensitivity) over the class, the second a soft
    false-positive rate (1 - specificity) over its complement; ``r`` trades one for the other.

    Empty policy: ``smooth`` only enters the denominators (the numerators are errors that vanish
    with a perfect prediction).  For a class absent from the target the sensitivity term is 0
    (its numerator is 0), and 0/0 is read as 0 even with ``smooth=0``.

    Args:
        {args}
        r: weight of the sensitivity term in [0, 1] (0.05 by default).
        smooth: ``s`` above, ``>= 0``.
        ignore_index: label value excluded from every sum.
        aggregate: ``"image"`` (per image, then mean) or ``"batch"`` (sums pooled over the batch).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (the ``(N, C)`` or ``(1, C)`` table).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[0, 1], [1, 1]]]); p = np.stack([1 - y, y], 1).astype(float)
        >>> float(segmath.sensitivity_specificity(p, y, from_logits=False))
        0.0
    """
    check_scalar(r, "r", low=0, high=1)
    check_scalar(smooth, "smooth", low=0)
    check_aggregate(aggregate)
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index)
    xp = pair.xp
    w = check_weight(weight, pair.num_classes, pair.input)
    err_pos, err_neg, sy, n = _squared_errors(pair)
    if aggregate == "batch":
        err_pos, err_neg, sy, n = (xp.sum(t, axis=0, keepdims=True) for t in (err_pos, err_neg, sy, n))
    loss = r * safe_divide(xp, err_pos, sy + smooth) + (1.0 - r) * safe_divide(xp, err_neg, n - sy + smooth)
    return class_reduce(xp, loss, reduction, w)
