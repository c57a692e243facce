r"""Embedding losses for instance segmentation (seed 004): pixels are mapped to vectors that
cluster by instance.

Shared conventions (:mod:`segmath.instances.inputs`): embeddings ``input`` ``(N, F, *spatial)``
float, instance ids ``target`` ``(N, *spatial)`` integer in ``[0, max_id]``; ``background`` (``0``)
pixels are no instance (``None``: every id is one, as the seed's own push-pull variant wants).
Each loss is computed per image and then reduced over the batch (``reduction``); an image with no
instance costs 0.

Everything is batched with scatter-adds over the instance ids (no Python loop over instances or
images), so a fixed ``max_id`` keeps the whole loss on the device: ``max_id=None`` reads the largest
id (one host sync); pass it (e.g. the dataset's maximum) under ``torch.compile`` with value checks off.

Distances use the guarded norm :math:`\|v\| = \sqrt{\|v\|^2}` with a zero-gradient branch at exactly
0, so a pixel sitting on its centre gives a finite gradient, and NaN still propagates.
"""
from __future__ import annotations

import math

import numpy as np

from .. import primitives as P
from ..catalogue import NoForm, register
from ..numerics import clip_negative, safe_divide
from ..validation import (DataChecks, check_array, check_choice, check_reduction, check_same_kind, check_scalar,
                          check_scores)
from .inputs import check_background

__all__ = ["discriminative", "push_pull_centroid", "push_pull_balls", "pairwise_similarity"]


# ---- inputs and batched segment operations ---------------------------------------------------------

def _prepare(input, target, background, max_id):
    """Validated flat ``x`` (N, F, S), ``ids`` (N, S) int64, foreground (N, S) float, number of slots K."""
    check_array(input, "input", min_ndim=3, floating=True)
    check_array(target, "target", min_ndim=2)
    check_same_kind(input, target, "input", "target")
    xp = P.namespace(input)
    if target.dtype == xp.bool or not xp.isdtype(target.dtype, "integral"):
        raise TypeError(f"target holds instance ids and must have an integer dtype, got {target.dtype}")
    if tuple(target.shape) != (input.shape[0],) + tuple(input.shape[2:]):
        raise ValueError(f"target must have shape (N, *spatial) = {(input.shape[0],) + tuple(input.shape[2:])} "
                         f"for input of shape {tuple(input.shape)} (N, F, *spatial), got {tuple(target.shape)}")
    background = check_background(background)
    if max_id is not None:
        check_scalar(max_id, "max_id", low=0, integer=True)
    n, f = input.shape[0], input.shape[1]
    x = xp.reshape(input, (n, f, -1))
    if x.dtype != P.float_dtype(x):
        x = xp.astype(x, P.float_dtype(x))
    ids = xp.astype(xp.reshape(target, (n, -1)), xp.int64)
    checks = DataChecks()
    check_scores(input, "input", checks=checks)
    if checks.enabled or max_id is None:
        lo, hi = P.minmax(ids)
        if max_id is None:
            max_id = int(hi)            # the one host read when no bound is given
        bound = max_id
        checks.require((lo < 0) | (hi > bound), lambda: ValueError(
            f"target must hold instance ids in [0, {bound}] (max_id={bound}); found values in "
            f"[{int(lo)}, {int(hi)}] (negative ids are not allowed)"))
    checks.resolve()
    fg = xp.ones(ids.shape, dtype=x.dtype) if background is None else xp.astype(ids != background, x.dtype)
    return xp, x, ids, fg, max_id + 1


def _norm(xp, sq):
    """sqrt of non-negative squared norms, with a zero gradient at exactly 0 (NaN kept)."""
    sq = clip_negative(xp, sq)
    zero = sq == 0
    return xp.where(zero, xp.zeros_like(sq), xp.sqrt(xp.where(zero, xp.ones_like(sq), sq)))


def _centres(xp, x, ids, fg, k):
    """Instance sizes (N, K), centres (N, F, K), presence (N, K) float."""
    cnt = P.class_sums(fg, ids, k)
    mu = safe_divide(xp, P.class_sums(x * fg[:, None, :], ids, k), cnt[:, None, :])
    return cnt, mu, xp.astype(cnt > 0, x.dtype)


def _reduce(xp, per_image, reduction):
    if reduction == "none":
        return per_image
    return xp.sum(per_image) if reduction == "sum" else xp.mean(per_image)


def _check_nonneg(**values):
    for name, v in values.items():
        check_scalar(v, name, low=0.0)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")


# ---- examples ---------------------------------------------------------------------------------------

def _example(seed, f=3):
    """Two 6x7 images, three-dimensional embeddings, ids in {0 (background), 1, 2}; max_id=2."""
    rng = np.random.default_rng(seed)
    target = np.zeros((2, 6, 7), np.int64)
    target[:, :3, :4] = 1
    target[:, 3:, 3:] = 2
    target[1, 0, 6] = 2
    centres = rng.normal(0, 1.0, (3, f))
    x = centres[target] + 0.6 * rng.standard_normal((2, 6, 7, f))
    return (np.moveaxis(x, -1, 1).copy(), target), {"max_id": 2}


_NO_FORM = ("a set-level loss over instance centroids and pairs of instances: no per-pixel, softmax or "
            "confusion-count form exists; the tests check it against a brute-force NumPy loop of the paper")


def _set_level_loss(key, name, formula, *, example=_example, references=("debrabandere2017semantic",), **extra):
    """``register`` for a set-level embedding loss: the catalogue fields these losses all share."""
    return register(key, kind="loss", name=name, example=example, references=references, chapter="11_embeddings",
                    symbolic=NoForm(_NO_FORM), formula=formula, tags=("3d",),
                    **extra)


# ---- discriminative (De Brabandere et al. 2017) --------------------------------------------------------

VARIANCES = ("instance", "pixel")
REGS = ("mean", "sum")


@_set_level_loss("discriminative", "Discriminative loss (De Brabandere et al.)", formula=(
              r"\begin{aligned}"
              r"L &= \frac{\alpha}{C}\sum_c \frac{1}{N_c}\sum_{i\in c}[\|\mu_c - x_i\| - \delta_v]_+^2\\"
              r"&\quad + \frac{\beta}{C(C-1)}\sum_{a\ne b}[2\delta_d - \|\mu_a - \mu_b\|]_+^2"
              r" + \frac{\gamma}{C}\sum_c \|\mu_c\|"
              r"\end{aligned}"), theorems=("verify_discriminative_geometry",))
def discriminative(input, target, *, delta_v=0.5, delta_d=1.5, alpha=1.0, beta=1.0, gamma=0.001,
                   variance="instance", reg="mean", background=0, max_id=None, reduction="mean"):
    r"""Discriminative loss (De Brabandere, Neven & Van Gool 2017): pull to the centre, push centres apart.

    .. math::
        \begin{aligned}
        L_\mathrm{var} &= \frac1C\sum_{c=1}^C \frac1{N_c}\sum_{i\in c}[\|\mu_c - x_i\| - \delta_v]_+^2,\\
        L_\mathrm{dist} &= \frac1{C(C-1)}\sum_{a\ne b}[2\delta_d - \|\mu_a - \mu_b\|]_+^2,\\
        L_\mathrm{reg} &= \frac1C\sum_c\|\mu_c\|,
        \end{aligned}

    :math:`L = \alpha L_\mathrm{var} + \beta L_\mathrm{dist} + \gamma L_\mathrm{reg}` per image, over its
    ``C`` instances (``L_dist = 0`` when ``C < 2``; ``L = 0`` when ``C = 0``).

    Args:
        input: embeddings ``(N, F, *spatial)``.
        target: instance ids ``(N, *spatial)`` in ``[0, max_id]``.
        delta_v, delta_d: the pull and push margins (the seed's :math:`r_A = 0.5`, :math:`r_R = 1.5`).
        alpha, beta, gamma: the weights of the three terms (paper: 1, 1, 0.001).
        variance: ``"instance"`` (the paper: mean per instance, then over instances) or ``"pixel"``
            (pooled over all foreground pixels, as some public implementations do).
        reg: ``"mean"`` (the paper's :math:`1/C`) or ``"sum"`` (the seed's unnormalised
            :math:`\sum_c\|\mu_c\|`).  Other public codes divide the distance term by :math:`2C(C-1)`
            (use ``beta=0.5``) or count the background as a cluster (``background=None``).
        background: the id of no instance (``None``: every id is an instance).
        max_id: the largest id (``None``: read from ``target``, one host sync).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per image ``(N,)``).

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[1, 1, 2, 2]]]); x = np.array([[[[0.0, 0.0, 3.0, 3.0]]]])
        >>> float(segmath.discriminative(x, y))      # tight clusters 3 apart: only L_reg = (0 + 3)/2
        0.0015
    """
    _check_nonneg(delta_v=delta_v, delta_d=delta_d, alpha=alpha, beta=beta, gamma=gamma)
    check_choice(variance, "variance", VARIANCES)
    check_choice(reg, "reg", REGS)
    check_reduction(reduction)
    xp, x, ids, fg, k = _prepare(input, target, background, max_id)
    cnt, mu, present = _centres(xp, x, ids, fg, k)
    c = xp.sum(present, axis=1)
    d = _norm(xp, xp.sum((P.take_along(mu, ids[:, None, :], axis=2) - x) ** 2, axis=1))
    hinge = clip_negative(xp, d - delta_v) ** 2 * fg
    if variance == "instance":
        l_var = safe_divide(xp, xp.sum(safe_divide(xp, P.class_sums(hinge, ids, k), cnt), axis=1), c)
    else:
        l_var = safe_divide(xp, xp.sum(hinge, axis=1), xp.sum(fg, axis=1))
    dd = _norm(xp, xp.sum((mu[:, :, :, None] - mu[:, :, None, :]) ** 2, axis=1))
    off_diag = 1.0 - xp.eye(k, dtype=x.dtype, device=P.device(x))
    pair = present[:, :, None] * present[:, None, :] * off_diag
    l_dist = safe_divide(xp, xp.sum(clip_negative(xp, 2 * delta_d - dd) ** 2 * pair, axis=(1, 2)), c * (c - 1))
    norms = xp.sum(_norm(xp, xp.sum(mu ** 2, axis=1)) * present, axis=1)
    l_reg = safe_divide(xp, norms, c) if reg == "mean" else norms
    return _reduce(xp, alpha * l_var + beta * l_dist + gamma * l_reg, reduction)


# ---- the seed's push-pull losses ----------------------------------------------------------------------

def _centre_distances(xp, x, mu):
    """(N, K, S) distances from every centre to every pixel (Gram form: no (N, K, F, S) tensor).

    The embeddings are first moved to their per-image mean (distances do not change), so that the
    cancellation in ``|mu|^2 + |x|^2 - 2 mu.x`` scales with the spread of the embeddings, not with
    their offset from the origin.  Near a centre the Gram form still loses digits; the attraction
    term, which lives there, takes the exact own-centre distance instead (see :func:`_push_pull`).
    """
    shift = P.detach(xp.mean(x, axis=2, keepdims=True))                 # (N, F, 1)
    x, mu = x - shift, mu - shift
    cross = xp.matmul(xp.permute_dims(mu, (0, 2, 1)), x)                 # (N, K, S)
    sq = xp.sum(mu ** 2, axis=1)[:, :, None] + xp.sum(x ** 2, axis=1)[:, None, :] - 2 * cross
    return _norm(xp, sq)


def _push_pull(input, target, attract, repel, alpha, background, max_id, reduction):
    xp, x, ids, fg, k = _prepare(input, target, background, max_id)
    cnt, mu, present = _centres(xp, x, ids, fg, k)
    c = xp.sum(present, axis=1)
    dist = _centre_distances(xp, x, mu)
    slots = xp.arange(k, device=P.device(ids))
    inside = xp.astype(ids[:, None, :] == slots[None, :, None], x.dtype) * fg[:, None, :]   # (N, K, S)
    # attraction: each pixel to its own centre, by the difference itself (exact near the centre)
    own = _norm(xp, xp.sum((P.take_along(mu, ids[:, None, :], axis=2) - x) ** 2, axis=1))   # (N, S)
    l_a = safe_divide(xp, P.class_sums(attract(own) * fg, ids, k), cnt)
    outside = (1.0 - inside) * present[:, :, None]
    l_r = safe_divide(xp, xp.sum(repel(dist) * outside, axis=2), ids.shape[1] - cnt)
    per_image = safe_divide(xp, xp.sum((alpha * l_a + l_r) * present, axis=1), c)
    return _reduce(xp, per_image, reduction)


@_set_level_loss("push_pull_centroid", "Push-pull centroid loss (seed 004)", formula=(
              r"L = \frac{1}{M}\sum_m \Big(\frac{\alpha}{|m|}\sum_{z\in m}\|\mu_m - z\|"
              r" - \frac{1}{|\Omega|-|m|}\sum_{z\notin m}\|\mu_m - z\|\Big)"))
def push_pull_centroid(input, target, *, alpha=1.0, background=0, max_id=None, reduction="mean"):
    r"""The seed's naive push-pull loss: mean distance to the own centre minus mean distance of the others.

    .. math:: L = \frac1M\sum_{m}\Big(\frac{\alpha}{|m|}\sum_{z\in m}\|\mu_m - z\|
              - \frac1{|\Omega| - |m|}\sum_{z\notin m}\|\mu_m - z\|\Big)

    over the ``M`` instances of an image, :math:`\Omega` all its pixels (background included: it is
    pushed away from every centre).  Unbounded below (the repulsion grows without limit): the
    contradictory objective the seed warns about; small ``alpha`` favours diverse features.

    Args:
        alpha: the weight of the attraction.  Others as :func:`discriminative`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[1, 1, 2, 2]]]); x = np.array([[[[0.0, 0.0, 3.0, 3.0]]]])
        >>> float(segmath.push_pull_centroid(x, y))
        -3.0
    """
    check_scalar(alpha, "alpha", low=0.0)
    check_reduction(reduction)
    return _push_pull(input, target, lambda d: d, lambda d: -d, alpha, background, max_id, reduction)


@_set_level_loss("push_pull_balls", "Push-pull balls loss (seed 004)", formula=(
              r"\begin{aligned}"
              r"L = \frac{1}{M}\sum_m \Big(&\frac{\alpha}{|m|}\sum_{z\in m}[\|\mu_m - z\| - r_A]_+\\"
              r"&+ \frac{1}{|\Omega|-|m|}\sum_{z\notin m}[r_R - \|\mu_m - z\|]_+\Big)"
              r"\end{aligned}"))
def push_pull_balls(input, target, *, r_a=0.5, r_r=1.5, alpha=1.0, background=0, max_id=None, reduction="mean"):
    r"""The seed's push-pull loss with balls: hinges at the attraction radius and the repulsion radius.

    .. math::
        \begin{aligned}
        L = \frac1M\sum_{m}\Big(&\frac{\alpha}{|m|}\sum_{z\in m}[\|\mu_m - z\| - r_A]_+\\
        &+ \frac1{|\Omega| - |m|}\sum_{z\notin m}[r_R - \|\mu_m - z\|]_+\Big)
        \end{aligned}

    Every pixel outside ``m`` (background included) is pushed out of the ball of radius ``r_r``
    around :math:`\mu_m`, unlike the discriminative loss, which pushes centres only.

    Args:
        r_a, r_r: the attraction and repulsion radii (the seed: :math:`r_R = 2 r_A` or :math:`3 r_A`).
        alpha: the weight of the attraction.  Others as :func:`discriminative`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[1, 1, 2, 2]]]); x = np.array([[[[0.0, 0.0, 3.0, 3.0]]]])
        >>> float(segmath.push_pull_balls(x, y))
        0.0
    """
    _check_nonneg(r_a=r_a, r_r=r_r, alpha=alpha)
    check_reduction(reduction)
    return _push_pull(input, target, lambda d: clip_negative(P.namespace(d), d - r_a),
                      lambda d: clip_negative(P.namespace(d), r_r - d), alpha, background, max_id, reduction)


# ---- pairwise similarity (Fathi et al. 2017) ------------------------------------------------------------

def _log_similarity(xp, d2, same):
    r"""``log sigma`` where ``same`` and ``log(1 - sigma)`` elsewhere, for
    :math:`\sigma = 2/(1 + e^{d^2})`: :math:`\log\sigma = \log 2 - \mathrm{softplus}(d^2)`,
    :math:`\log(1-\sigma) = \log(1 - e^{-d^2}) - \mathrm{softplus}(-d^2)`.  The unused branch sees
    a harmless argument (a same-instance pair at distance 0 would make ``log(1 - sigma)`` infinite and
    its zero gradient NaN)."""
    pos = math.log(2.0) - P.softplus(d2)
    safe = xp.where(same, xp.ones_like(d2), d2)
    # log(1 - e^{-a}) in the two forms that keep precision (Maechler's log1mexp switch at ln 2)
    big = safe > math.log(2.0)
    far = xp.log1p(-xp.exp(-xp.where(big, safe, xp.ones_like(safe))))
    near = xp.log(-xp.expm1(-xp.where(big, xp.ones_like(safe), safe)))
    neg = xp.where(big, far, near) - P.softplus(-safe)
    return xp.where(same, pos, neg)


_M = 2147483647   # 2^31 - 1: every product below stays under 2^62, exact in int64


def _hash_keys(xp, n, s, seed, device, dtype):
    """Pseudo-random keys in [0, 1) per pixel from a counter-based hash of (pixel index, seed): the
    same values on NumPy and torch, CPU or GPU, with no generator state (so the loss traces whole)."""
    k = xp.reshape(xp.arange(n * s, dtype=xp.int64, device=device), (n, s))
    k = (k * 1103515245 + (seed * 2654435761 + 12345) % _M) % _M
    for mult, shift in ((48271, 13), (69621, 11), (16807, 7)):
        k = xp.bitwise_xor(k, xp.bitwise_right_shift(k, shift))
        k = (k * mult) % _M
    return xp.astype(k, dtype) / float(_M)


def _sample(xp, x, ids, fg, cnt, k, samples, seed):
    """``samples`` random pixels of each instance (all when it has fewer), without a loop or a host read:
    pixels sorted by (id, random key), then the first ``samples`` of each id's run.

    Returns embeddings (N, F, K*samples), slot labels (K*samples,), validity (N, K*samples) float.
    """
    n, s = ids.shape
    keys = _hash_keys(xp, n, s, seed, P.device(x), x.dtype)
    slot = xp.astype(ids, x.dtype)
    order = P.sort_desc(-(xp.where(fg > 0, slot, xp.full_like(slot, float(k))) + keys), axis=1)[1]
    start = xp.cumulative_sum(cnt, axis=1) - cnt
    offs = xp.arange(samples, dtype=x.dtype, device=P.device(x))
    valid = xp.astype(offs[None, None, :] < cnt[:, :, None], x.dtype)                    # (N, K, samples)
    pos = xp.astype(xp.where(valid > 0, start[:, :, None] + offs[None, None, :], xp.zeros_like(valid)), xp.int64)
    pix = P.take_along(order, xp.reshape(pos, (n, k * samples)), axis=1)
    labels = xp.reshape(xp.broadcast_to(xp.arange(k, device=P.device(x))[:, None], (k, samples)), (k * samples,))
    return P.take_along(x, pix[:, None, :], axis=2), labels, xp.reshape(valid, (n, k * samples))


_DIRECT_PAIRS = 2 ** 24   # elements of the (N, F, P, P) difference tensor below which it is formed


def _pair_sq(xp, e):
    """(N, P, P) squared distances of the columns of ``e`` (N, F, P): by differences when small (exact
    for near-identical embeddings, where log(1 - sigma) ~ log d^2 needs relative precision), else by the
    Gram form (O(P^2) memory, absolute error ~ eps |e|^2)."""
    n, f, p = e.shape
    if n * f * p * p <= _DIRECT_PAIRS:
        return xp.sum((e[:, :, :, None] - e[:, :, None, :]) ** 2, axis=1)
    return clip_negative(xp, xp.sum(e ** 2, axis=1)[:, :, None] + xp.sum(e ** 2, axis=1)[:, None, :]
                         - 2 * xp.matmul(xp.permute_dims(e, (0, 2, 1)), e))


@_set_level_loss("pairwise_similarity", "Pairwise similarity loss (Fathi et al.)",
                 example=lambda seed: (_example(seed)[0], {"max_id": 2, "samples": "all"}),
                 references=("fathi2017semantic",), formula=(
              r"\begin{aligned}"
              r"L &= -\frac{1}{|S|}\sum_{p,q\in S}\frac{1}{|m_p|}\Big([q\in m_p]\log\sigma_{pq}"
              r" + [q\notin m_p]\log(1-\sigma_{pq})\Big),\\"
              r"\sigma_{pq} &= \frac{2}{1+e^{\|e_p-e_q\|^2}}"
              r"\end{aligned}"),
          theorems=("verify_fathi_similarity",))
def pairwise_similarity(input, target, *, samples=10, seed=0, background=0, max_id=None, reduction="mean"):
    r"""Fathi et al. (2017)'s metric-learning loss: a weighted logistic loss on pixel-pair similarities.

    .. math::
        \begin{aligned}
        \sigma(p, q) &= \frac{2}{1 + \exp\|e_p - e_q\|^2},\\
        L &= -\frac1{|S|}\sum_{p, q\in S}\frac1{|m_p|}\Big([q\in m_p]\log\sigma(p,q)\\
        &\qquad + [q\notin m_p]\log\big(1 - \sigma(p,q)\big)\Big),
        \end{aligned}

    :math:`S` the sampled pixels, ``samples`` per instance (all of a smaller one), :math:`m_p` the
    instance of ``p`` and :math:`|m_p|` its number of sampled pixels (the weight that balances the
    instances).  :math:`\sigma\in(0, 1]`, 1 iff :math:`e_p = e_q`; two pixels of different instances
    with the same embedding cost :math:`+\infty`.

    Args:
        samples: pixels drawn per instance (the paper: 10), or ``"all"``: every instance pixel (memory
            :math:`O(S^2)` per image: small images only).
        seed: the seed of the draw (a counter-based hash of pixel index and seed: the same pixels on
            NumPy and torch, CPU or GPU, and no generator state, so the loss traces whole).
        background, max_id, reduction: as :func:`discriminative`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[[1, 2]]]); x = np.array([[[[0.0, 3.0]]]])
        >>> round(float(segmath.pairwise_similarity(x, y, samples="all")), 6)   # log(1-sigma) ~ -2 e^{-9}
        0.000247
    """
    if samples != "all":
        check_scalar(samples, "samples", low=1, integer=True)
    check_scalar(seed, "seed", low=0, integer=True)
    check_reduction(reduction)
    xp, x, ids, fg, k = _prepare(input, target, background, max_id)
    cnt = P.class_sums(fg, ids, k)
    if samples == "all":
        e, lab, valid = x, ids, fg
        size = P.take_along(cnt, ids, axis=1)
    else:
        e, slots, valid = _sample(xp, x, ids, fg, cnt, k, samples, seed)
        lab = xp.broadcast_to(slots[None, :], valid.shape)
        size = P.take_along(xp.minimum(cnt, xp.full_like(cnt, float(samples))), lab, axis=1)
    d2 = _pair_sq(xp, e)
    same = lab[:, :, None] == lab[:, None, :]
    w = safe_divide(xp, valid, size)
    # pairs with a background or padding pixel are left out by where, not by a product: their
    # log(1 - sigma) may be -inf (an identical embedding), and -inf * 0 is NaN
    used = (valid[:, :, None] > 0) & (valid[:, None, :] > 0)
    log_sim = xp.where(used, _log_similarity(xp, xp.where(used, d2, xp.ones_like(d2)), same), xp.zeros_like(d2))
    total = xp.sum(log_sim * w[:, :, None], axis=(1, 2))
    return _reduce(xp, -safe_divide(xp, total, xp.sum(valid, axis=1)), reduction)


# ---- smooth L1 (offset regression) --------------------------------------------------------------------

def _example_offsets(seed):
    rng = np.random.default_rng(seed)
    target = rng.normal(0, 2.0, (2, 2, 5, 6))
    return (target + rng.normal(0, 1.0, target.shape), target), {}


@register("smooth_l1", kind="loss", name="Smooth L1 (Huber) loss on offsets", example=_example_offsets,
          references=("girshick2015fast",), chapter="11_embeddings",
          symbolic=NoForm("a regression loss of real-valued offsets against real targets: the catalogue's "
                          "symbolic forms are in probabilities and labels"),
          formula=r"\ell(x) = \begin{cases}\frac{x^2}{2\beta} & |x| < \beta\\ |x| - \frac{\beta}{2} & "
                  r"\text{otherwise}\end{cases},\quad x = \hat o - o", tags=("3d",))
def smooth_l1(input, target, *, beta=1.0, reduction="mean"):
    r"""Smooth L1 loss (Girshick 2015) of predicted offsets (or any regression map) against the target.

    .. math:: \ell(x) = \frac{x^2}{2\beta}\ \text{if } |x| < \beta, \qquad |x| - \frac\beta2\ \text{otherwise}

    summed over the ``D`` offset components and averaged over the pixels of each image
    (``reduction="none"``: per image ``(N,)``).  ``beta = 0`` is the L1 loss.  Equals
    ``torch.nn.functional.smooth_l1_loss(..., reduction="sum") / (N * pixels)`` for ``"mean"``.

    Args:
        input, target: ``(N, D, *spatial)`` floats of the same shape.
        beta: the width of the quadratic zone (>= 0).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Example:
        >>> import numpy as np, segmath
        >>> float(segmath.smooth_l1(np.array([[[0.5, 3.0]]]), np.zeros((1, 1, 2))))   # (0.125 + 2.5) / 2
        1.3125
    """
    check_scalar(beta, "beta", low=0.0)
    if not math.isfinite(beta):
        raise ValueError(f"beta must be finite, got {beta!r}")
    check_reduction(reduction)
    check_array(input, "input", min_ndim=3, floating=True)
    check_array(target, "target", min_ndim=3, floating=True)
    check_same_kind(input, target, "input", "target")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"target must have the shape of input {tuple(input.shape)}, got {tuple(target.shape)}")
    checks = DataChecks()
    check_scores(input, "input", checks=checks)
    check_scores(target, "target", checks=checks)
    checks.resolve()
    xp = P.namespace(input)
    n = input.shape[0]
    diff = xp.abs(xp.reshape(input, (n, -1)) - xp.astype(xp.reshape(target, (n, -1)), input.dtype))
    if beta == 0:
        per = diff
    else:
        quad = xp.where(diff < beta, diff, xp.zeros_like(diff))      # the gradient of each branch stays finite
        per = xp.where(diff < beta, 0.5 * quad ** 2 / beta, diff - 0.5 * beta)
    pixels = math.prod(input.shape[2:])
    return _reduce(xp, xp.sum(per, axis=1) / pixels, reduction)


# ---- spatial embeddings (Neven et al. 2019) -------------------------------------------------------------

def _grid(xp, spatial, pixel_size, like):
    """(D, S) pixel coordinates times ``pixel_size``."""
    axes = [xp.arange(n, dtype=like.dtype, device=P.device(like)) * pixel_size for n in spatial]
    mesh = xp.meshgrid(*axes, indexing="ij")
    return xp.stack([xp.reshape(m, (-1,)) for m in mesh])


def _example_spatial(seed):
    (x, target), _ = _example(seed, f=4)     # 2 offset channels, sigma, seed: F = 4 = D + 2
    return (x, target), {"max_id": 2, "detach": False}   # detach=False: the value's true gradient


def _spatial_terms(xp, emb, centre, s_mean, ids, fg, k):
    """Lovász hinge of every (image, slot) (N, K) and the phi of each pixel's own instance (N, S).

    The broadcast form over (N, K, S), differentiable by autograd: the NumPy path and the graph that
    ``torch.compile`` traces.
    """
    sq = xp.sum((emb[:, :, None, :] - centre[:, :, :, None]) ** 2, axis=1)          # (N, K, S)
    phi = xp.exp(-0.5 * sq * xp.exp(-2.0 * s_mean)[:, :, None])
    slots = xp.arange(k, device=P.device(ids))
    inside = xp.astype(ids[:, None, :] == slots[None, :, None], emb.dtype) * fg[:, None, :]
    margin = clip_negative(xp, 1.0 - (2.0 * phi - 1.0) * (2.0 * inside - 1.0))
    n, sz = ids.shape
    from ..primitives.sorting import lovasz_jaccard
    l_inst = xp.reshape(lovasz_jaccard(xp.reshape(margin, (n * k, sz)), xp.reshape(inside, (n * k, sz))), (n, k))
    return l_inst, xp.sum(phi * inside, axis=1)


def _fused_spatial(emb):
    """Eager torch on CPU: the fused instance term (:func:`_spatial_terms_fused`)."""
    if not P.is_torch(emb) or emb.device.type != "cpu":
        return False
    import torch
    return not torch.compiler.is_compiling()


def _spatial_terms_fused(emb, centre, s_mean, ids, fg, cnt):
    r""":func:`_spatial_terms` for eager CPU torch, the same values with less memory traffic.

    Only the rows of present instances are built and sorted (the background slot and absent ids
    contribute 0, NaN kept); the phi of each pixel's own instance is gathered (N, S) rather than
    summed over (N, K, S); and the Lovász term is one autograd function whose backward scatters the
    Lovász increments through the saved permutation and contracts them with the embeddings by
    matrix products: with :math:`q_{mx} = \partial L / \partial \|e_x - C_m\|^2`,
    :math:`\partial L/\partial e_x = 2\sum_m q_{mx}(e_x - C_m)` and
    :math:`\partial L/\partial C_m = -2\sum_x q_{mx}(e_x - C_m)`.
    """
    import torch
    w = torch.exp(-2.0 * s_mean)                                                      # 1 / sigma^2
    idx = ids[:, None, :]
    sq_own = torch.sum((emb - torch.take_along_dim(centre, idx, dim=2)) ** 2, dim=1)   # (N, S)
    own = torch.exp(-0.5 * sq_own * torch.take_along_dim(w, ids, dim=1)) * fg
    l_inst = _spatial_lovasz().apply(emb, centre, s_mean, ids, fg, cnt)
    probe = 0.0 * torch.sum(emb.detach(), dim=(1, 2))          # absent rows: 0, or NaN as the broadcast form
    return torch.where(cnt > 0, l_inst, probe[:, None]), own


_SPATIAL_LOVASZ = None


def _spatial_lovasz():
    global _SPATIAL_LOVASZ
    if _SPATIAL_LOVASZ is not None:
        return _SPATIAL_LOVASZ
    import torch

    from ..primitives.sorting import SortedRows

    class SpatialLovasz(torch.autograd.Function):
        @staticmethod
        def forward(ctx, emb, centre, s_mean, ids, fg, cnt):
            n, d, sz = emb.shape
            img, slot = torch.nonzero(cnt > 0, as_tuple=True)        # rows in image order
            bounds = [0] + torch.cumsum(torch.bincount(img, minlength=n), 0).tolist()
            c_rows = centre[img, :, slot]                                  # (R, D)
            w_rows = torch.exp(-2.0 * s_mean)[img, slot]                   # (R,)
            sq = torch.empty((img.shape[0], sz), dtype=emb.dtype)
            margin = torch.empty_like(sq)
            inside = torch.empty(sq.shape, dtype=torch.bool)
            for i in range(n):
                a, b = bounds[i], bounds[i + 1]
                if a == b:
                    continue
                for j in range(d):
                    if j == 0:
                        torch.sub(emb[i, j][None, :], c_rows[a:b, j, None], out=sq[a:b]).square_()
                    else:
                        sq[a:b].add_((emb[i, j][None, :] - c_rows[a:b, j, None]).square_())
                torch.eq(ids[i][None, :], slot[a:b, None], out=inside[a:b]).logical_and_(fg[i][None, :] > 0)
                # 1 - (2 phi - 1)(2 [x in m] - 1), phi = exp(-sq / (2 sigma^2)): >= 0 since phi <= 1
                torch.mul(sq[a:b], -0.5, out=margin[a:b])
                margin[a:b].mul_(w_rows[a:b, None]).exp_().mul_(2.0).sub_(1.0)
                margin[a:b].mul_(torch.where(inside[a:b], 1.0, -1.0)).neg_().add_(1.0)
            rows = SortedRows(margin, inside, n_fg=cnt[img, slot])
            del margin
            out = torch.zeros((n, centre.shape[2]), dtype=emb.dtype)
            out[img, slot] = rows.value
            ctx.rows, ctx.bounds, ctx.img, ctx.slot, ctx.inside = rows, bounds, img, slot, inside
            ctx.save_for_backward(emb, c_rows, w_rows, sq)
            ctx.k = centre.shape[2]
            return out

        @staticmethod
        def backward(ctx, grad_out):
            emb, c_rows, w_rows, sq = ctx.saved_tensors
            img, slot, bounds = ctx.img, ctx.slot, ctx.bounds
            n, d, sz = emb.shape
            r = ctx.rows.grad(grad_out[img, slot])                        # dL / d margin (R, S)
            grad_emb = torch.zeros_like(emb)
            grad_c = torch.empty_like(c_rows)
            grad_w = torch.empty_like(w_rows)
            for i in range(n):
                a, b = bounds[i], bounds[i + 1]
                if a == b:
                    continue
                q = r[a:b].mul_(torch.mul(sq[a:b], -0.5).mul_(w_rows[a:b, None]).exp_())       # * phi
                q.mul_(torch.where(ctx.inside[a:b], -2.0, 2.0))            # * d margin / d phi: dL/dphi * phi
                grad_w[a:b] = -0.5 * torch.bmm(q[:, None, :], sq[a:b, :, None])[:, 0, 0]   # phi = exp(-sq w / 2)
                q.mul_(-0.5 * w_rows[a:b, None])                           # dL / d sq
                e = emb[i]                                                 # (D, S)
                grad_c[a:b] = -2.0 * (q @ e.T - c_rows[a:b] * q.sum(1)[:, None])
                grad_emb[i] = 2.0 * (e * q.sum(0)[None, :] - c_rows[a:b].T @ q)
            grad_centre = torch.zeros((n, d, ctx.k), dtype=emb.dtype)
            grad_centre[img, :, slot] = grad_c
            grad_s = torch.zeros((n, ctx.k), dtype=emb.dtype)
            grad_s[img, slot] = grad_w * (-2.0 * w_rows)                   # w = exp(-2 s_mean)
            return grad_emb, grad_centre, grad_s, None, None, None

    _SPATIAL_LOVASZ = SpatialLovasz
    return _SPATIAL_LOVASZ


@register("spatial_embedding", kind="loss", name="Spatial embedding loss (Neven et al.)", example=_example_spatial,
          references=("neven2019instance", "berman2018lovasz"), chapter="11_embeddings",
          symbolic=NoForm("a set-level loss: per-instance centres and bandwidths, a Lovasz hinge over each "
                          "instance's pixels and a seed regression; no per-pixel or count form"),
          formula=(r"\begin{aligned}"
                   r"L &= \frac{w_i}{M}\sum_m \bar\Delta_J\big(2\phi_m - 1, m\big) + \frac{w_v}{M}\sum_m \frac{1}{|m|}"
                   r"\sum_{x\in m}(s_x - \bar s_m)^2\\"
                   r"&\quad + \frac{w_s}{|\Omega|}\sum_x (\mathrm{seed}_x - \phi_{m(x)}(x))^2,\\"
                   r"\phi_m(x) &= e^{-\|e_x - C_m\|^2/(2\sigma_m^2)}"
                   r"\end{aligned}"), theorems=("verify_spatial_embedding_ball",), tags=("3d",))
def spatial_embedding(input, target, *, w_inst=1.0, w_var=10.0, w_seed=1.0, pixel_size=None, detach=True,
                      background=0, max_id=None, reduction="mean"):
    r"""Spatial embedding loss (Neven, De Brabandere, Proesmans & Van Gool, CVPR 2019).

    ``input`` ``(N, D + 2, *spatial)``: ``D`` offset channels (``D`` the spatial rank), one bandwidth
    channel ``s`` and one seed logit.  Each pixel's embedding is its coordinate plus a bounded offset,
    :math:`e_x = x\,h + \tanh(o_x)` (``h = pixel_size``, by default 1 / the longest side, so the image
    spans [0, 1]); per instance ``m`` the centre :math:`C_m` is the mean embedding, the bandwidth
    :math:`\sigma_m = \exp(\bar s_m)` (:math:`\bar s_m` the mean of ``s`` over ``m``), and

    .. math:: \phi_m(x) = \exp\Big(-\frac{\|e_x - C_m\|^2}{2\sigma_m^2}\Big)

    (the official code's :math:`\exp(-e^{10\hat\sigma}\|e - C\|^2)` is the same family).  The loss of an
    image is :math:`w_i` times the mean over instances of the Lovász hinge of the logits
    :math:`2\phi_m - 1` against the mask ``m`` (over all pixels), plus :math:`w_v` times the mean over
    instances of the variance of ``s`` around the (detached) :math:`\bar s_m`, plus :math:`w_s` times the
    mean over pixels of :math:`(\mathrm{sigmoid}(\text{seed}) - \phi_{m(x)}(x))^2` with :math:`\phi` detached
    (0 on background).  Weights 1, 10, 1 as the official code.  The set :math:`\{\phi_m > 1/2\}` is the
    ball of radius :math:`\sigma_m\sqrt{2\ln 2}` around :math:`C_m`.

    Args:
        w_inst, w_var, w_seed: the weights of the three terms.
        pixel_size: the coordinate step (``None``: 1 / the longest spatial side).
        detach: stop the gradient through :math:`\bar s_m` in the variance term and through :math:`\phi` in
            the seed term (the paper and the official code; the gradient is then not the value's).
        background, max_id, reduction: as :func:`discriminative`.

    Example:
        >>> import numpy as np, segmath
        >>> y = np.array([[1, 1, 2, 2]]); x = np.zeros((1, 3, 4))    # 1-D: offset, s, seed; centres 0.5, 2.5
        >>> def loss(s): x[0, 1] = s; return float(segmath.spatial_embedding(x, y, pixel_size=1.0))
        >>> loss(0.0) < loss(-1.0)   # ball radius 1.18 (sigma = 1) separates; 0.43 (sigma = e^-1) does not
        True
    """
    _check_nonneg(w_inst=w_inst, w_var=w_var, w_seed=w_seed)
    check_reduction(reduction)
    if not isinstance(detach, bool):
        raise TypeError(f"detach must be True or False, got {detach!r}")
    stop = P.detach if detach else (lambda v: v)
    xp, x, ids, fg, k = _prepare(input, target, background, max_id)
    spatial = tuple(input.shape[2:])
    d = len(spatial)
    if input.shape[1] != d + 2:
        raise ValueError(f"input must have D + 2 = {d + 2} channels for {d}-D images (D offsets, one "
                         f"bandwidth, one seed), got shape {tuple(input.shape)}")
    if pixel_size is None:
        pixel_size = 1.0 / max(spatial)
    else:
        check_scalar(pixel_size, "pixel_size", low=0.0, low_open=True)
    emb = _grid(xp, spatial, float(pixel_size), x)[None] + xp.tanh(x[:, :d])       # (N, D, S)
    s, seed = x[:, d], P.sigmoid(x[:, d + 1])
    cnt, centre, present = _centres(xp, emb, ids, fg, k)
    s_mean = safe_divide(xp, P.class_sums(s * fg, ids, k), cnt)                          # (N, K)
    if _fused_spatial(emb):
        l_inst, own = _spatial_terms_fused(emb, centre, s_mean, ids, fg, P.detach(cnt))
    else:
        l_inst, own = _spatial_terms(xp, emb, centre, s_mean, ids, fg, k)
    n, sz = ids.shape
    dev = (s - P.take_along(stop(s_mean), ids, axis=1)) ** 2 * fg
    l_var = safe_divide(xp, P.class_sums(dev, ids, k), cnt)
    own = stop(own)                                                                  # phi of the own instance
    l_seed = xp.sum(fg * (seed - own) ** 2 + (1.0 - fg) * seed ** 2, axis=1) / sz
    c = xp.sum(present, axis=1)
    per_image = (w_inst * safe_divide(xp, xp.sum(l_inst * present, axis=1), c)
                 + w_var * safe_divide(xp, xp.sum(l_var * present, axis=1), c) + w_seed * l_seed)
    return _reduce(xp, per_image, reduction)
