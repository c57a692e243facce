r"""Compound losses: a distribution-based term plus a region-based term.

Each one calls the catalogue functions it combines (:func:`~segmath.losses.distribution.cross_entropy`,
:func:`~segmath.losses.distribution.binary_cross_entropy`, :func:`~segmath.losses.region.dice`,
:func:`~segmath.losses.region.log_dice`), so the terms are exactly those losses.  The input is
validated once, by the first call; the second runs with the data-dependent value checks off
(no second device sync).

The cross-entropy term is the binary cross-entropy for sigmoid problems (``C = 1`` or
``activation="sigmoid"``) and the categorical one otherwise.  ``reduction`` is ``"mean"`` or
``"sum"`` (the two terms have different shapes, so there is no ``"none"``).
"""
from __future__ import annotations

__all__ = ["bce_dice", "combo", "exp_log"]

import numpy as np

from .. import examples as ex
from .. import primitives as P
from ..catalogue import Aggregate, register
from ..inputs import make_pair
from .args import COMPOUND_ARGS
from ..numerics import clip_negative, safe_divide
from ..reduce import check_aggregate, class_reduce, pixel_reduce
from ..validation import check_array, check_choice, check_scalar, check_weight, value_checks
from .distribution import binary_cross_entropy, cross_entropy
from .region import _safe_pow, dice, log_dice

COMPOUND_REDUCTIONS = ("mean", "sum")


def _is_sigmoid(input, activation):
    check_array(input, "input", min_ndim=2, floating=True)
    check_choice(activation, "activation", (None, "softmax", "sigmoid"))
    return activation == "sigmoid" or (activation is None and input.shape[1] == 1)


def _example_compound(seed):
    if seed % 2 == 0:
        x, y = ex.multiclass(seed, ignore_index=-100)
        return (x, y), {"ignore_index": -100}
    x, y = ex.binary(seed)
    return (x, y), {}


# -- BCE + Dice -------------------------------------------------------------------------

@register("bce_dice", kind="loss", name="Cross-entropy + Dice loss", example=_example_compound,
          references=("jadon2020survey", "milletari2016vnet"), chapter="04_overlap",
          symbolic=Aggregate("lambda_ce*sum_i(-(y*log(p) + (1 - y)*log(1 - p)))/n"
                             " + lambda_dice*(1 - (2*I + smooth)/(S_p + S_y + smooth))"), tags=("soft-target",))
@COMPOUND_ARGS.fill
def bce_dice(input, target, *, lambda_ce=1.0, lambda_dice=1.0, weight=None, ignore_index=None, from_logits=True,
             activation=None, smooth=1e-5, aggregate="image", reduction="mean"):
    r"""(Binary) cross-entropy plus soft Dice loss (the U-Net practice; MONAI's ``DiceCELoss``).

    .. math:: L = \lambda_{ce}\, L_{CE}(p, y) + \lambda_{dice}\, L_{Dice}(p, y)

    :math:`L_{CE}` is :func:`binary_cross_entropy` (sigmoid problems) or :func:`cross_entropy`
    (softmax) and :math:`L_{Dice}` is :func:`dice`; ``weight`` and ``ignore_index`` go to both, ``smooth``
    and ``aggregate`` to the Dice term.  Both terms are :math:`\ge 0`.

    Args:
        {args}
        lambda_ce: weight of the cross-entropy term (>= 0).
        lambda_dice: weight of the Dice term (>= 0).
        weight: per-class weights ``(C,)`` for both terms.
        smooth: Dice smoothing (empty policy of :mod:`segmath.losses.region`).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 1, 2, 2)); y = np.array([[[0, 1], [1, 1]]])
        >>> total = segmath.bce_dice(x, y, smooth=0)
        >>> bool(np.isclose(total, np.log(2) + 1 - 2 * 1.5 / (2 + 3)))
        True
    """
    check_scalar(lambda_ce, "lambda_ce", low=0)
    check_scalar(lambda_dice, "lambda_dice", low=0)
    check_choice(reduction, "reduction", COMPOUND_REDUCTIONS)
    sigmoid = _is_sigmoid(input, activation)
    region = dice(input, target, weight=weight, ignore_index=ignore_index, from_logits=from_logits,
                  activation=activation, smooth=smooth, aggregate=aggregate, reduction=reduction)
    with value_checks(False):
        if sigmoid:
            ce = binary_cross_entropy(input, target, weight=weight, ignore_index=ignore_index,
                                      from_logits=from_logits, reduction=reduction)
        else:
            ce = cross_entropy(input, target, weight=weight, ignore_index=ignore_index, from_logits=from_logits,
                               activation=activation, reduction=reduction)
    return lambda_ce * ce + lambda_dice * region


# -- Combo ---------------------------------------------------------------------------------

def _combo_ce(input, target, beta, weight, ignore_index, from_logits, activation, reduction, sigmoid):
    r"""The :math:`\beta`-weighted cross-entropy :math:`-\mathrm{mean}[\beta y\log p + (1-\beta)(1-y)\log(1-p)]`."""
    if sigmoid:
        # -[b y log p + (1-b)(1-y) log(1-p)] = (1-b) * BCE with pos_weight b/(1-b)
        ce = binary_cross_entropy(input, target, weight=weight, pos_weight=beta / (1.0 - beta),
                                  ignore_index=ignore_index, from_logits=from_logits, reduction=reduction)
        return (1.0 - beta) * ce
    # softmax: class 0 is the background (weight 1 - beta), the other classes the foreground (beta);
    # for C = 2 this is exactly the binary form.  Mean over counted pixels, not over the weights.
    c = input.shape[1]
    w = [(1.0 - beta) if k == 0 else beta for k in range(c)]
    if weight is not None:  # validated on the host: these C numbers never touch the device
        user = check_weight(weight, c, np.zeros(1))
        w = [a * float(b) for a, b in zip(w, user)]
    total = cross_entropy(input, target, weight=w, ignore_index=ignore_index, from_logits=from_logits,
                          activation=activation, reduction="sum")
    if reduction == "sum":
        return total
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index)
    return total / pair.xp.sum(pair.count())   # mean over the counted pixels, not over the weights


@register("combo", kind="loss", name="Combo loss", example=_example_compound,
          references=("taghanaki2019combo",), chapter="04_overlap",
          symbolic=Aggregate("alpha*sum_i(-(beta*y*log(p) + (1 - beta)*(1 - y)*log(1 - p)))/n"
                             " + (1 - alpha)*(1 - (2*I + smooth)/(S_p + S_y + smooth))"),
          tags=("soft-target",))
@COMPOUND_ARGS.fill
def combo(input, target, *, alpha=0.5, beta=0.5, weight=None, ignore_index=None, from_logits=True,
          activation=None, smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Combo loss (Taghanaki et al. 2019): a :math:`\beta`-weighted cross-entropy plus Dice.

    .. math::
        \begin{aligned}
        L &= \alpha\, L_{\beta\text{-}CE} + (1 - \alpha)\,(1 - D),\\
        L_{\beta\text{-}CE} &= -\frac{1}{|\Omega|}\sum_i \big[\beta\, y_i\log p_i + (1-\beta)(1-y_i)\log(1-p_i)\big]
        \end{aligned}

    **Sign and normalisation.** The paper writes :math:`\alpha L_{\beta\text{-}CE} - (1-\alpha)\,D`
    (the Dice *coefficient* subtracted; the loss can be negative).  Here the Dice *loss* is added:
    the two differ by the constant :math:`1 - \alpha` (per class, with the class mean of :func:`dice`),
    so the gradients are identical and :math:`L \ge 0`, with :math:`L = 0` only at a perfect, confident
    prediction.  :math:`\beta > 1/2` penalises false negatives more.

    Sigmoid problems use the formula above per channel (via :func:`binary_cross_entropy` with
    ``pos_weight`` :math:`= \beta/(1-\beta)`, times :math:`1-\beta`).  Softmax problems use
    :func:`cross_entropy` with class weights :math:`1-\beta` for class 0 (background) and :math:`\beta`
    for the others, averaged over the counted pixels (for ``C = 2`` this is the binary formula).

    Args:
        {args}
        alpha: weight of the cross-entropy term, in [0, 1].
        beta: weight of the positive (foreground) part of the cross-entropy, in (0, 1).
        weight: extra per-class weights ``(C,)`` for both terms.
        smooth: Dice smoothing.

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 1, 2, 2)); y = np.array([[[0, 1], [1, 1]]])
        >>> ce = 0.5 * np.log(2)                     # beta = 1/2 halves the cross-entropy
        >>> bool(np.isclose(segmath.combo(x, y, smooth=0), 0.5 * ce + 0.5 * (1 - 2 * 1.5 / 5)))
        True
    """
    check_scalar(alpha, "alpha", low=0, high=1)
    check_scalar(beta, "beta", low=0, high=1, low_open=True, high_open=True)
    check_choice(reduction, "reduction", COMPOUND_REDUCTIONS)
    sigmoid = _is_sigmoid(input, activation)
    region = dice(input, target, weight=weight, ignore_index=ignore_index, from_logits=from_logits,
                  activation=activation, smooth=smooth, aggregate=aggregate, reduction=reduction)
    with value_checks(False):
        ce = _combo_ce(input, target, beta, weight, ignore_index, from_logits, activation, reduction, sigmoid)
    return alpha * ce + (1.0 - alpha) * region


# -- Exponential logarithmic loss ----------------------------------------------------------

def _frequency_weights(xp, freq):
    """Wong et al.'s label weights ((sum_k f_k) / f_l)^(1/2); 0 for a label that never occurs."""
    total = xp.sum(freq, axis=0, keepdims=True)
    return xp.sqrt(safe_divide(xp, xp.broadcast_to(total, freq.shape), freq))


def _element_weights(pair, weight):
    """Weight of every counted element of the cross-entropy map: (N, S) softmax, (N, C, S) sigmoid."""
    xp = pair.xp
    if pair.activation == "sigmoid":
        y = pair.masked(pair.dense)                        # (N, C, S); labels {0, 1} per channel
        if weight is not None:
            return xp.broadcast_to(xp.reshape(weight, (1, -1, 1)), y.shape)
        pos = xp.sum(y, axis=(0, 2))
        freq = xp.stack([xp.sum(pair.count()) - pos, pos])  # (2, C): label 0, label 1
        w = _frequency_weights(xp, freq)
        return y * w[1][None, :, None] + (1.0 - y) * w[0][None, :, None]
    if weight is None:
        if pair.labels is not None:
            freq = xp.sum(P.class_sums(pair.counted(), pair.labels, pair.num_classes), axis=0)
        else:
            freq = xp.sum(pair.dense, axis=(0, 2))
        weight = _frequency_weights(xp, freq)
    if pair.labels is not None:
        return xp.reshape(xp.take(weight, xp.reshape(pair.labels, (-1,))), pair.labels.shape)
    return xp.sum(pair.dense * xp.reshape(weight, (1, -1, 1)), axis=1)


def _example_exp_log(seed):
    if seed % 2 == 0:
        x, y = ex.multiclass(seed, ignore_index=-100)
        return (x, y), {"ignore_index": -100}
    return (ex.logits(seed), ex.soft(seed)), {"aggregate": "batch", "weight": [1.0, 2.0, 0.5]}


@register("exp_log", kind="loss", name="Exponential logarithmic loss", example=_example_exp_log,
          references=("wong20183d",), chapter="05_focal",
          symbolic=Aggregate("lambda_dice*(-log((2*I + smooth)/(S_p + S_y + smooth)))**gamma_dice"
                             " + lambda_ce*(sqrt(n/S_y)*sum_i(y*(-(y*log(p) + (1 - y)*log(1 - p)))**gamma_ce)"
                             " + sqrt(n/(n - S_y))*sum_i((1 - y)*(-(y*log(p) + (1 - y)*log(1 - p)))**gamma_ce))/n"),
          tags=("soft-target",))
@COMPOUND_ARGS.fill
def exp_log(input, target, *, gamma_dice=0.3, gamma_ce=0.3, lambda_dice=0.8, lambda_ce=0.2, weight=None,
            ignore_index=None, from_logits=True, activation=None, smooth=1e-5, aggregate="image", reduction="mean"):
    r"""Exponential logarithmic loss (Wong et al., MICCAI 2018).

    .. math::
        \begin{aligned}
        L &= \lambda_{dice}\,\mathbb{E}_{n,c}\big[(-\ln D_{nc})^{\gamma_D}\big]
        + \lambda_{ce}\,\mathbb{E}_i\big[w_{l_i}\,(-\ln p_{i,l_i})^{\gamma_{CE}}\big],\\
        w_l &= \Big(\frac{\sum_k f_k}{f_l}\Big)^{1/2}
        \end{aligned}

    :math:`-\ln D_{nc}` is :func:`log_dice` and :math:`-\ln p_{i,l_i}` the per-pixel
    :func:`cross_entropy` (per element of :func:`binary_cross_entropy` for sigmoid problems, where
    the labels are 0/1 per channel).  With :math:`\gamma < 1` both terms lift small losses (the
    paper's 0.3: "more focus on the less accurately segmented structures" in relative terms); the
    powers use a safe branch so a zero loss has a finite gradient.  The paper's defaults are
    :math:`\gamma_D = \gamma_{CE} = 0.3`, :math:`\lambda_{dice} = 0.8`, :math:`\lambda_{ce} = 0.2`,
    and Dice smoothing :math:`\epsilon = 1` (here ``smooth``, default 1e-5 as the other region losses).

    Label weights: :math:`f_k` is the frequency of label :math:`k` among the counted pixels of the
    batch (soft targets: :math:`\sum_i y_{ik}`), computed on the device without gradient; pass
    ``weight`` to use fixed per-class weights (e.g. dataset frequencies, as in the paper) instead.
    The expectation :math:`\mathbb{E}_i` is the plain mean over the counted pixels (elements).

    Args:
        {args}
        gamma_dice: exponent :math:`\gamma_D > 0` of the Dice term.
        gamma_ce: exponent :math:`\gamma_{CE} > 0` of the cross-entropy term.
        lambda_dice: weight of the Dice term (>= 0).
        lambda_ce: weight of the cross-entropy term (>= 0).
        weight: fixed label weights :math:`w_l` ``(C,)`` (default: from the batch frequencies).
        smooth: Dice smoothing.

    Example:
        >>> import numpy as np, segmath
        >>> x = np.zeros((1, 2, 1, 2)); y = np.array([[[0, 1]]])     # p = 1/2 everywhere, w_l = sqrt(2)
        >>> ref = 0.8 * np.log(2) ** 0.3 + 0.2 * np.sqrt(2) * np.log(2) ** 0.3     # D_c = 1/2
        >>> bool(np.isclose(segmath.exp_log(x, y, smooth=0), ref))
        True
    """
    for name, value in (("gamma_dice", gamma_dice), ("gamma_ce", gamma_ce)):
        check_scalar(value, name, low=0, low_open=True)
    check_scalar(lambda_dice, "lambda_dice", low=0)
    check_scalar(lambda_ce, "lambda_ce", low=0)
    check_choice(reduction, "reduction", COMPOUND_REDUCTIONS)
    check_aggregate(aggregate)
    pair = make_pair(input, target, from_logits=from_logits, activation=activation, ignore_index=ignore_index)
    xp = pair.xp
    w = check_weight(weight, pair.num_classes, pair.input)
    with value_checks(False):
        neg_log_d = log_dice(input, target, ignore_index=ignore_index, from_logits=from_logits,
                             activation=activation, smooth=smooth, aggregate=aggregate, reduction="none")
        if pair.activation == "sigmoid":
            ce = binary_cross_entropy(input, target, ignore_index=ignore_index, from_logits=from_logits,
                                      reduction="none")
        else:
            ce = cross_entropy(input, target, ignore_index=ignore_index, from_logits=from_logits,
                               activation=activation, reduction="none")
    dice_term = class_reduce(xp, _safe_pow(xp, clip_negative(xp, neg_log_d), gamma_dice), reduction)
    ce = xp.reshape(ce, (ce.shape[0], pair.num_classes, -1) if pair.activation == "sigmoid" else (ce.shape[0], -1))
    ce_el = _element_weights(pair, w) * _safe_pow(xp, clip_negative(xp, ce), gamma_ce)
    # (N, C*S) for sigmoid: label targets (the only ones with ignored pixels) have C = 1 there
    ce_term = pixel_reduce(xp, xp.reshape(ce_el, (ce_el.shape[0], -1)), reduction, valid=pair.valid)
    return lambda_dice * dice_term + lambda_ce * ce_term
