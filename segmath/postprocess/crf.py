r"""Mean-field inference for the fully connected CRF of Krähenbühl & Koltun (2011), NumPy and torch.

The energy of a labelling :math:`x` is :math:`\sum_i \psi_u(x_i) + \sum_{i<j} \mu(x_i, x_j) k(f_i, f_j)`
with :math:`k = w^{(1)} k_{\mathrm{bilateral}} + w^{(2)} k_{\mathrm{spatial}}`,

.. math:: k_{\mathrm{bilateral}}(i, j) = \exp\!\Big(-\frac{\|p_i - p_j\|^2}{2\theta_\alpha^2}
          - \frac{\|I_i - I_j\|^2}{2\theta_\beta^2}\Big), \qquad
          k_{\mathrm{spatial}}(i, j) = \exp\!\Big(-\frac{\|p_i - p_j\|^2}{2\theta_\gamma^2}\Big),

positions :math:`p` in physical units (``spacing``).  With ``unary`` the logits :math:`-\psi_u`, each
mean-field step is :math:`Q \leftarrow \operatorname{softmax}(\text{unary} - \sum_m w_m\, \mu\, M_m)`
with the messages :math:`M_m(i) = \sum_{j \ne i} k_m(i, j) Q_j` (self excluded).

Methods: ``"exact"`` forms the dense :math:`P \times P` kernels (the reference; small inputs only);
``"permutohedral"`` (the default) filters the spatial kernel exactly (it is separable: one
Gaussian matrix per axis) and the bilateral kernel with the permutohedral lattice
(:mod:`segmath.postprocess._lattice`).  Both are written with array operations, run on NumPy and torch
and are differentiable with respect to ``unary`` (CRF-as-RNN); the lattice is built once per call
(from detached features) so the iterations hold no host synchronisation.
"""
from __future__ import annotations

__all__ = ["dense_crf", "CRF_METHODS", "CRF_NORMALIZATIONS"]

import numpy as np

from .. import primitives as P
from ..numerics import clip_negative
from ..catalogue import register
from ..validation import check_array, check_choice, check_same_kind, check_scalar, check_spacing
from ._checks import check_finite, check_positive
from ._lattice import Lattice

CRF_METHODS = ("permutohedral", "exact")
CRF_NORMALIZATIONS = ("none", "symmetric")
MAX_EXACT_PIXELS = 8192          # the exact method stores N * P^2 kernel entries per kernel


def _example(seed):
    rng = np.random.default_rng(seed)
    unary = 2.0 * rng.standard_normal((2, 3, 6, 7))
    image = 255.0 * rng.random((2, 3, 6, 7))
    return (unary, image), {"w_spatial": 1.0, "theta_gamma": 1.5, "w_bilateral": 2.0, "theta_alpha": 4.0,
                            "theta_beta": 40.0, "n_iter": 3, "method": "exact"}


@register("dense_crf", kind="transform", name="Dense CRF (mean-field inference)", example=_example,
          references=("krahenbuhl2011efficient", "adams2010fast", "zheng2015conditional"), chapter="12_crf",
          formula=r"Q \leftarrow \operatorname{softmax}\big(u - \textstyle\sum_m w_m\, \mu\, (k_m * Q - Q)\big)",
          differentiable=True)
def dense_crf(unary, image, *, n_iter=5, w_spatial=3.0, theta_gamma=3.0, w_bilateral=10.0, theta_alpha=80.0,
              theta_beta=13.0, compat="potts", spacing=None, method="permutohedral", normalization="symmetric"):
    r"""Mean-field inference in a fully connected CRF with Gaussian and bilateral pairwise kernels.

    Defaults are pydensecrf's example settings (``addPairwiseGaussian(sxy=3, compat=3)``,
    ``addPairwiseBilateral(sxy=80, srgb=13, compat=10)``, 5 iterations).

    Args:
        unary: logits :math:`-\psi_u`, ``(N, C, *spatial)`` with 1–3 spatial axes (e.g. a network's
            output or ``log`` of its probabilities).
        image: features for the bilateral kernel, ``(N, K, *spatial)`` (e.g. RGB in 0–255).
        n_iter: mean-field steps (≥ 1).
        w_spatial, theta_gamma: weight and bandwidth (physical units) of the spatial kernel; ``w_spatial=None``
            switches it off.
        w_bilateral, theta_alpha, theta_beta: weight, spatial and feature bandwidths of the bilateral
            kernel; ``w_bilateral=None`` switches it off.
        compat: ``"potts"`` (:math:`\mu(l, l') = [l \ne l']`, applied as the equivalent :math:`-I`; THEORY S30)
            or a ``(C, C)`` compatibility matrix :math:`\mu` (same kind as ``unary``, or NumPy).
        spacing: pixel size per spatial axis (default 1), used for the positions.
        method: ``"permutohedral"`` (fast, approximate bilateral kernel) or ``"exact"`` (dense kernels,
            at most 8192 pixels per image).
        normalization: ``"symmetric"`` (default): messages :math:`D^{-1/2}(K - I)D^{-1/2} Q` with
            :math:`D = \operatorname{diag}(K\mathbf{1})`, the normalisation pydensecrf applies by default
            (which keeps the self term; here it is excluded), so that its example weights mean the same here;
            or ``"none"``: the model's unnormalised kernels (the definition; messages then grow with the
            number of similar pixels, and weights must be much smaller).

    Returns:
        Q, the marginals ``(N, C, *spatial)`` (rows on the simplex), same kind and device as ``unary``.

    Example:
        >>> import numpy as np, segmath
        >>> u = np.log(np.array([[[[0.9, 0.9, 0.4]], [[0.1, 0.1, 0.6]]]]))   # (1, 2, 1, 3)
        >>> img = np.zeros((1, 1, 1, 3))
        >>> q = segmath.dense_crf(u, img, w_spatial=None, w_bilateral=1.0, theta_alpha=2.0,
        ...                       theta_beta=1.0, method="exact")
        >>> q.argmax(1)                                       # the odd pixel is smoothed away
        array([[[0, 0, 0]]])
    """
    args = _validate(unary, image, n_iter, w_spatial, theta_gamma, w_bilateral, theta_alpha, theta_beta,
                     compat, spacing, method, normalization)
    xp = P.namespace(unary)
    dtype = P.float_dtype(unary)
    u = unary if unary.dtype == dtype else xp.astype(unary, dtype)
    feats = image if image.dtype == dtype else xp.astype(image, dtype)
    kernels = _build_kernels(xp, u, feats, args)
    mu = args["compat"]
    if mu is not None:
        mu = xp.asarray(P.to_numpy(mu) if P.is_numpy(mu) else mu, dtype=dtype, device=P.device(u))
    return mean_field(xp, u, kernels, mu, n_iter)


def mean_field(xp, u, kernels, mu, n_iter):
    """The iterations: array operations only (no host synchronisation; tested by forbidding them)."""
    q = P.softmax(u, axis=1)
    for _ in range(n_iter):
        q = P.softmax(u - _pairwise(xp, q, kernels, mu), axis=1)
    return q


# ---- validation -------------------------------------------------------------------------------------

def _validate(unary, image, n_iter, w_spatial, theta_gamma, w_bilateral, theta_alpha, theta_beta, compat,
              spacing, method, normalization):
    check_array(unary, "unary", min_ndim=3, floating=True)
    check_array(image, "image", min_ndim=3)
    check_same_kind(unary, image, "unary", "image")
    nd = unary.ndim - 2
    if nd > 3:
        raise ValueError(f"unary must have 1 to 3 spatial axes, got shape {tuple(unary.shape)}")
    if image.ndim != unary.ndim or image.shape[0] != unary.shape[0] or image.shape[2:] != unary.shape[2:]:
        raise ValueError(f"image must have shape (N, K, *spatial) = ({unary.shape[0]}, K, "
                         f"{', '.join(map(str, unary.shape[2:]))}) to match unary; got {tuple(image.shape)}")
    check_scalar(n_iter, "n_iter", low=1, integer=True)
    check_choice(method, "method", CRF_METHODS)
    check_choice(normalization, "normalization", CRF_NORMALIZATIONS)
    out = {"nd": nd, "spacing": check_spacing(spacing, nd), "method": method, "normalization": normalization,
           "compat": _check_compat(compat, unary)}
    out["spatial"] = None if w_spatial is None else (check_positive(w_spatial, "w_spatial"),
                                                     check_positive(theta_gamma, "theta_gamma"))
    out["bilateral"] = None if w_bilateral is None else (check_positive(w_bilateral, "w_bilateral"),
                                                         check_positive(theta_alpha, "theta_alpha"),
                                                         check_positive(theta_beta, "theta_beta"))
    if method == "exact" and int(np.prod(unary.shape[2:])) > MAX_EXACT_PIXELS:
        raise ValueError(f"method='exact' forms P x P kernels; P = {int(np.prod(unary.shape[2:]))} pixels "
                         f"exceeds {MAX_EXACT_PIXELS}: use method='permutohedral'")
    check_finite(unary, "unary")
    check_finite(image, "image")
    return out


def _check_compat(compat, unary):
    if isinstance(compat, str):
        check_choice(compat, "compat", ("potts",))
        return None
    if not (P.is_numpy(compat) or P.is_torch(compat)):
        raise TypeError(f"compat must be 'potts' or a (C, C) array, got {type(compat).__name__}")
    c = unary.shape[1]
    if tuple(compat.shape) != (c, c):
        raise ValueError(f"compat must have shape ({c}, {c}) (one row and column per class), "
                         f"got {tuple(compat.shape)}")
    if P.is_torch(compat) and P.is_torch(unary) and compat.device != unary.device:
        raise ValueError(f"compat must be on unary's device {unary.device}, got {compat.device}")
    if not np.all(np.isfinite(P.to_numpy(compat))):
        raise ValueError("compat must be finite")
    return compat


# ---- kernels ------------------------------------------------------------------------------------------

def _positions(xp, shape, spacing, dtype, device):
    """Physical coordinates of every pixel, ``(P, nd)``, in C order."""
    axes = [xp.arange(n, dtype=dtype, device=device) * s for n, s in zip(shape, spacing)]
    grids = xp.meshgrid(*axes, indexing="ij")
    return xp.stack([xp.reshape(g, (-1,)) for g in grids], axis=1)


def _bilateral_features(xp, feats, args, dtype, device):
    """Per image ``(N, P, nd + K)``: positions / theta_alpha and features / theta_beta."""
    n, k = feats.shape[:2]
    _, alpha, beta = args["bilateral"]
    pos = _positions(xp, feats.shape[2:], args["spacing"], dtype, device) / alpha
    colour = xp.permute_dims(xp.reshape(feats, (n, k, -1)), (0, 2, 1)) / beta
    pos = xp.broadcast_to(pos[None], (n,) + tuple(pos.shape))
    return xp.concat([pos, colour], axis=2)


def _build_kernels(xp, u, feats, args):
    """A list of (weight, apply) with ``apply(q)`` the self-excluded, normalised message of one kernel."""
    device, dtype = P.device(u), u.dtype
    out = []
    if args["spatial"] is not None:
        w, gamma = args["spatial"]
        if args["method"] == "exact":
            pos = _positions(xp, u.shape[2:], args["spacing"], dtype, device) / gamma
            base = _DenseKernel(xp, xp.broadcast_to(pos[None], (u.shape[0],) + tuple(pos.shape)))
        else:
            base = _SeparableGaussian(xp, u.shape[2:], args["spacing"], gamma, dtype, device)
        out.append((w, _message(xp, base, u, args["normalization"])))
    if args["bilateral"] is not None:
        w = args["bilateral"][0]
        f = _bilateral_features(xp, feats, args, dtype, device)
        base = _DenseKernel(xp, f) if args["method"] == "exact" else _LatticeKernel(xp, f)
        out.append((w, _message(xp, base, u, args["normalization"])))
    return out


def _message(xp, kernel, u, normalization):
    """Self-excluded message :math:`(K - I) q`, optionally symmetrically normalised by :math:`K 1`."""
    if normalization == "none":
        return lambda q: kernel(q) - q
    ones = xp.ones_like(u[:, :1])
    norm = 1.0 / xp.sqrt(kernel(ones))                  # K 1 >= 1 (self term), never 0

    def apply(q):
        nq = norm * q
        return norm * (kernel(nq) - nq)
    return apply


def _pairwise(xp, q, kernels, mu):
    """Sum_m w_m mu M_m; Potts as -M (the all-ones part of 1 - I shifts every label equally)."""
    total = None
    for w, message in kernels:
        term = w * message(q)
        total = term if total is None else total + term
    if mu is None:
        return -total
    return xp.permute_dims(xp.tensordot(total, mu, axes=([1], [1])), _class_last_to_axis1(q.ndim))


def _class_last_to_axis1(ndim):
    return (0, ndim - 1) + tuple(range(1, ndim - 1))


TRUNCATE = 8.5     # exp(-8.5^2 / 2) = 2e-16: beyond this radius the Gaussian is below float64 rounding


class _SeparableGaussian:
    """Exact spatial Gaussian (self included) as one 1-D correlation per axis, zero outside the image.

    The taps stop at 8.5 standard deviations, where they fall below float64 rounding relative to the
    centre tap (so the result equals the dense kernel to rounding; the tests check it).
    """

    def __init__(self, xp, shape, spacing, theta, dtype, device):
        self.xp = xp
        self.taps = []
        for n, s in zip(shape, spacing):
            r = min(n - 1, int(np.ceil(TRUNCATE * theta / s)))
            i = xp.arange(-r, r + 1, dtype=dtype, device=device) * (s / theta)
            self.taps.append(xp.exp(-0.5 * i * i))

    def __call__(self, q):
        return P.correlate_separable(q, self.taps)


class _DenseKernel:
    """Exact Gaussian of features ``(N, P, D)`` as an ``(N, P, P)`` matrix (self included)."""

    def __init__(self, xp, f):
        self.xp = xp
        sq = xp.sum(f * f, axis=2)
        d2 = sq[:, :, None] + sq[:, None, :] - 2.0 * xp.matmul(f, xp.permute_dims(f, (0, 2, 1)))
        d2 = clip_negative(xp, d2)                          # rounding residue below 0
        self.k = xp.exp(-0.5 * d2)
        eye = xp.eye(f.shape[1], dtype=f.dtype, device=P.device(f))
        self.k = self.k * (1.0 - eye) + eye                 # the diagonal exactly 1

    def __call__(self, q):
        xp = self.xp
        n, c = q.shape[:2]
        flat = xp.reshape(q, (n, c, -1))
        out = xp.matmul(flat, self.k)                      # K symmetric: (q K)_j = sum_i q_i k_ij
        return xp.reshape(out, q.shape)


CALIBRATION_SAMPLES = 64      # pixels per image at which the lattice's scale is matched to the exact sum


class _LatticeKernel:
    r"""The bilateral Gaussian by the permutohedral lattice, one lattice for the whole batch.

    The lattice's kernel sums are biased low for image features (pixels fill a 2-D or 3-D sheet of the
    feature space and the blur loses mass to unoccupied vertices: about 20% for RGB images).  Its scale
    is therefore calibrated once per image: the exact sums :math:`\sum_j k(f_i, f_j)` at 64 evenly
    spaced pixels against the lattice's, one factor per image (this lowers the mean relative error of
    the messages to about 5%; THEORY S32).
    """

    def __init__(self, xp, f):
        self.xp = xp
        n, p, d = f.shape
        dev = P.device(f)
        batch = xp.reshape(xp.broadcast_to(xp.arange(n, device=dev)[:, None], (n, p)), (-1,))
        f = P.detach(f)
        # non-finite features (only with value checks off): build on zeros, make that image's output NaN
        finite = xp.isfinite(f)
        f = xp.where(finite, f, xp.zeros_like(f))
        self.lattice = Lattice(xp.reshape(f, (n * p, d)), batch=batch)
        bad = xp.reshape(~xp.all(finite, axis=(1, 2)), (n, 1))
        factor = xp.reshape(_calibration(xp, f, self.lattice), (n, p))
        factor = xp.where(bad, xp.full_like(factor, float("nan")), factor)
        self.factor = xp.reshape(factor, (-1, 1))

    def __call__(self, q):
        xp = self.xp
        n, c = q.shape[:2]
        pts = xp.reshape(xp.permute_dims(xp.reshape(q, (n, c, -1)), (0, 2, 1)), (-1, c))
        out = self.lattice.filter(pts) * self.factor
        return xp.reshape(xp.permute_dims(xp.reshape(out, (n, -1, c)), (0, 2, 1)), q.shape)


def _calibration(xp, f, lattice, chunk=16):
    """Per-point factor ``(N * P, 1)``: exact / lattice kernel sums over sampled pixels of each image."""
    n, p, d = f.shape
    s = min(p, CALIBRATION_SAMPLES)
    idx = xp.asarray(np.unique(np.linspace(0, p - 1, s).round().astype(np.int64)), device=P.device(f))
    sample = xp.take(f, idx, axis=1)                               # (n, s, d)
    sq = xp.sum(f * f, axis=2)
    exact = None
    for start in range(0, int(idx.shape[0]), chunk):
        a = sample[:, start:start + chunk]
        d2 = xp.sum(a * a, axis=2)[:, :, None] + sq[:, None, :] - 2.0 * xp.matmul(a, xp.permute_dims(f, (0, 2, 1)))
        part = xp.sum(xp.exp(-0.5 * clip_negative(xp, d2)), axis=(1, 2))
        exact = part if exact is None else exact + part
    ones = xp.ones((n * p, 1), dtype=f.dtype, device=P.device(f))
    approx = xp.sum(xp.take(xp.reshape(lattice.filter(ones), (n, p)), idx, axis=1), axis=1)
    factor = exact / approx                                        # approx >= its self term > 0
    return xp.reshape(xp.broadcast_to(factor[:, None], (n, p)), (-1, 1))
