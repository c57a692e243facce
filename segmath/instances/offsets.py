r"""The seed's offset + uncertainty loss (seed 004, "Offset loss"): refine a semantic prediction by
reading it at offset positions, and learn where to trust the offset reading.

``input`` ``(N, C + D + 1, *spatial)``: ``C`` class logits :math:`\hat y_i`, ``D`` offset channels
(``D`` the spatial rank; offset :math:`o(x) = \tau\tanh(\cdot)` in pixels) and one uncertainty logit
(:math:`U = \mathrm{sigmoid}(\cdot)`).  With :math:`\hat y_s(x) = \hat y_i(x + o(x))` (multilinear
interpolation, positions clamped to the image) and :math:`\hat y_f = (1 - U)\,\hat y_i + U\,\hat y_s`,

.. math:: L = L(\hat y_f, H) + \kappa\,L(\hat y_s, H) + \lambda\,L(\hat y_i, H) + \overline{L_U},\qquad
          L_U(x) = -\big[a(x)\log U(x) + (1 - a(x))\log(1 - U(x))\big],

:math:`L` the OHEM cross-entropy (:func:`segmath.topk_cross_entropy`, hardest fraction ``ohem``),
:math:`a(x) = [H(x) = H(\mathrm{round}(x + o(x)))]`, :math:`\overline{L_U}` its mean over pixels.  The
seed writes the second term of :math:`L_U` as :math:`1 - \log U`: where :math:`a = 0` the term is then
:math:`\log U - 1`, which pushes ``U`` down (the right way) but without bound, to :math:`-\infty` as
:math:`U \to 0`; it is read as the binary cross-entropy it is meant to be, bounded below by 0.  The seed's
parameters: :math:`\tau = \lambda = 0.5`, :math:`\kappa = 0.5` assumed (its "μ" is read as κ).
The logits are combined before the softmax (the seed does not say; logits mix linearly).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import primitives as P
from ..catalogue import NoForm, register
from ..losses import topk_cross_entropy
from ..validation import check_array, check_reduction, check_scalar
from .losses import _grid, _reduce

__all__ = ["offset_uncertainty"]


def _example(seed):
    rng = np.random.default_rng(seed)
    target = np.zeros((2, 6, 7), np.int64)
    target[:, 2:5, 1:5] = 1
    target[:, :2, 4:] = 2
    x = rng.normal(0, 1.0, (2, 3 + 2 + 1, 6, 7))     # C = 3 classes, D = 2 offsets, 1 uncertainty
    return (x, target), {}


def interpolate(values, pos, spatial):
    """Multilinear interpolation of ``values`` ``(N, C, S)`` at pixel positions ``pos`` ``(N, D, S)``
    (clamped to the image): the ``2^D`` corners gathered and weighted; differentiable in both."""
    xp = P.namespace(values)
    d = len(spatial)
    strides = [math.prod(spatial[i + 1:]) for i in range(d)]
    lo, frac, hi = [], [], []
    for a, size in enumerate(spatial):
        p = xp.clip(pos[:, a], 0.0, float(size - 1))
        f = xp.floor(P.detach(p))
        lo.append(xp.astype(f, xp.int64))
        hi.append(xp.astype(xp.clip(f + 1.0, 0.0, float(size - 1)), xp.int64))
        frac.append(p - f)
    out = 0.0
    for corner in itertools.product((0, 1), repeat=d):
        index = sum((hi[a] if b else lo[a]) * strides[a] for a, b in enumerate(corner))
        weight = 1.0
        for a, b in enumerate(corner):
            weight = weight * (frac[a] if b else 1.0 - frac[a])
        out = out + P.take_along(values, index[:, None, :], axis=2) * weight[:, None, :]
    return out


def _nearest_labels(labels, pos, spatial):
    xp = P.namespace(labels)
    index = 0
    for a, size in enumerate(spatial):
        r = xp.clip(xp.round(P.detach(pos[:, a])), 0.0, float(size - 1))
        index = index + xp.astype(r, xp.int64) * math.prod(spatial[a + 1:])
    return P.take_along(labels, index, axis=1)


@register("offset_uncertainty", kind="loss", name="Offset + uncertainty loss (seed 004)", example=_example,
          references=(), chapter="11_embeddings",
          symbolic=NoForm("the loss reads the prediction at learned offset positions (an interpolation), so it "
                          "is no function of per-pixel probabilities and labels alone"),
          formula=(r"\begin{aligned}L &= L_{\mathrm{OHEM}}(\hat y_f) + \kappa L_{\mathrm{OHEM}}(\hat y_s)"
                   r" + \lambda L_{\mathrm{OHEM}}(\hat y_i) + \overline{L_U},\\"
                   r"\hat y_s(x) &= \hat y_i(x + o(x)),\ \hat y_f = (1-U)\hat y_i + U\hat y_s\end{aligned}"),
          tags=("3d",))
def offset_uncertainty(input, target, *, kappa=0.5, lam=0.5, tau=0.5, ohem=1.0, reduction="mean"):
    """Offset + uncertainty loss of the seed (see the module docstring).

    Args:
        input: ``(N, C + D + 1, *spatial)``: class logits, offsets (before ``tau * tanh``), uncertainty logit.
        target: class labels ``(N, *spatial)`` in ``[0, C)``.
        kappa, lam: the weights of the offset-read and the initial prediction's losses.
        tau: the largest offset component, in pixels.
        ohem: the fraction of hardest pixels each cross-entropy keeps (1: plain cross-entropy).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"`` (per image ``(N,)``).
    """
    for name, v in (("kappa", kappa), ("lam", lam), ("tau", tau)):
        check_scalar(v, name, low=0.0)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
    check_scalar(ohem, "ohem", low=0.0, high=1.0, low_open=True)
    check_reduction(reduction)
    check_array(input, "input", min_ndim=3, floating=True)
    d = input.ndim - 2
    c = input.shape[1] - d - 1
    if c < 2:
        raise ValueError(f"input must have C + D + 1 channels with C >= 2 classes (D = {d} offsets, one "
                         f"uncertainty), got shape {tuple(input.shape)}")
    check_array(target, "target", min_ndim=2)
    if tuple(target.shape) != (input.shape[0],) + tuple(input.shape[2:]):
        raise ValueError(f"target must have shape {(input.shape[0],) + tuple(input.shape[2:])}, got "
                         f"{tuple(target.shape)}")
    xp = P.namespace(input)
    spatial = tuple(input.shape[2:])
    n = input.shape[0]
    x = xp.reshape(input, (n, input.shape[1], -1))
    logits, off, u = x[:, :c], float(tau) * xp.tanh(x[:, c:c + d]), x[:, c + d]
    pos = _grid(xp, spatial, 1.0, x)[None] + off
    shifted = interpolate(logits, pos, spatial)
    trust = P.sigmoid(u)[:, None, :]
    fused = (1.0 - trust) * logits + trust * shifted

    def ce(z):   # per image: the OHEM mean; topk_cross_entropy validates the labels once per call
        m = math.ceil(ohem * z.shape[2])
        picked = topk_cross_entropy(xp.reshape(z, (n, c) + spatial), target, k=float(ohem), reduction="none")
        return xp.sum(xp.reshape(picked, (n, -1)), axis=1) / m
    labels = xp.astype(xp.reshape(target, (n, -1)), xp.int64)
    agree = xp.astype(_nearest_labels(labels, pos, spatial) == labels, x.dtype)
    l_u = -(agree * P.log_sigmoid(u) + (1.0 - agree) * P.log_sigmoid(-u))
    per_image = ce(fused) + kappa * ce(shifted) + lam * ce(logits) + xp.mean(l_u, axis=1)
    return _reduce(xp, per_image, reduction)
