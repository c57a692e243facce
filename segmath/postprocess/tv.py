r"""Total-variation (ROF) denoising by Chambolle's projection algorithm, N-D, NumPy and torch.

The Rudin–Osher–Fatemi problem with weight :math:`w = 1/\lambda`,

.. math:: \min_u \; \mathrm{TV}(u) + \frac{1}{2w} \|u - f\|_2^2,

has the dual :math:`u = f - \operatorname{div} p` over fields :math:`p` with :math:`|p_i| \le w`.
Chambolle (2004) finds :math:`p` by the semi-implicit fixed point

.. math:: p \leftarrow \frac{p - \tau \nabla(f - \operatorname{div} p)}{1 + \tfrac{\tau}{w} |\nabla(f - \operatorname{div} p)|},

which needs only forward differences :math:`\nabla` and the backward-difference divergence (its negative
adjoint), so it is written once against the array API and runs (with autograd) on NumPy and torch.
The iteration, its step :math:`\tau = 1/(2\,\mathrm{ndim})` and its stopping rule are those of
``skimage.restoration.denoise_tv_chambolle``, whose results this function reproduces.
"""
from __future__ import annotations

__all__ = ["tv_denoise", "chambolle_dual", "total_variation", "TV_NORMS"]

import numpy as np

from .. import primitives as P
from ..catalogue import register
from ..validation import check_array, check_choice, check_scalar
from ._checks import check_finite, check_positive

TV_NORMS = ("isotropic", "anisotropic")


def _axis_slab(x, axis, start, stop):
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def gradient(xp, u, axes):
    """Forward differences along ``axes``, 0 on the last slice (Neumann boundary)."""
    out = []
    for ax in axes:
        zero = xp.zeros_like(_axis_slab(u, ax, 0, 1))
        out.append(xp.concat([_axis_slab(u, ax, 1, None) - _axis_slab(u, ax, 0, -1), zero], axis=ax))
    return out


def divergence(xp, p, axes):
    """Backward-difference divergence, the negative adjoint of :func:`gradient` (``p[-1] = 0``)."""
    total = None
    for comp, ax in zip(p, axes):
        zero = xp.zeros_like(_axis_slab(comp, ax, 0, 1))
        term = comp - xp.concat([zero, _axis_slab(comp, ax, 0, -1)], axis=ax)
        total = term if total is None else total + term
    return total


def _magnitude(xp, g, tv):
    """|grad| per pixel (isotropic: one Euclidean norm; anisotropic: one absolute value per axis)."""
    if tv == "anisotropic":
        return [xp.abs(c) for c in g]
    return [xp.sqrt(sum(c * c for c in g))]


def _example(seed):
    rng = np.random.default_rng(seed)
    f = (rng.random((9, 10)) < 0.5).astype(np.float64) + 0.3 * rng.standard_normal((9, 10))
    return (f,), {"weight": 0.3, "max_num_iter": 30}


@register("tv_denoise", kind="transform", name="Total-variation (ROF) denoising", example=_example,
          references=("chambolle2004algorithm", "rudin1992nonlinear"), chapter="13_variational",
          formula=r"\hat u = \arg\min_u \mathrm{TV}(u) + \tfrac{1}{2w}\|u - f\|_2^2",
          differentiable=True)
def tv_denoise(image, weight=0.1, eps=2e-4, max_num_iter=200, *, channel_axis=None, tv="isotropic",
               check_every=None):
    r"""Total-variation denoising (ROF) of an N-D image by Chambolle's projection algorithm.

    Minimises :math:`\mathrm{TV}(u) + \frac{1}{2w}\|u - f\|^2` with forward differences and
    Neumann boundaries.  ``tv="isotropic"`` uses :math:`\mathrm{TV}(u) = \sum_i |\nabla u_i|_2`,
    ``tv="anisotropic"`` the sum of absolute differences along each axis (its dual ball is a box,
    so each component of :math:`p` is projected on its own).

    Same parameters, step and stopping rule as ``skimage.restoration.denoise_tv_chambolle``:
    with :math:`E_n = (\|\operatorname{div} p_n\|^2 + w\,\mathrm{TV}(u_n)) / |\Omega|` evaluated at
    the start of iteration :math:`n`, it stops at the first :math:`n \ge 1` with
    :math:`|E_{n-1} - E_n| < \varepsilon E_0` and returns :math:`u_n`, or returns :math:`u` after
    ``max_num_iter`` evaluations.  Each channel stops on its own rule, as in scikit-image, but
    all channels iterate together.  Note this rule is a relative change of a *dual-side* quantity,
    not a duality gap: small ``weight`` and tight problems may stop far from the minimiser
    (THEORY S33: 3000 iterations are not enough at :math:`\lambda = 0.1`).

    Args:
        image: floating array, every axis spatial except ``channel_axis``.
        weight: :math:`w = 1/\lambda > 0`; larger means smoother.
        eps: relative tolerance of the stopping rule (> 0).
        max_num_iter: most iterations (≥ 1).
        channel_axis: axis of independent channels, or None (one channel).
        tv: ``"isotropic"`` or ``"anisotropic"``.
        check_every: how often the stopping rule is read on the host; results do not depend on it
            (a stopped channel's output is frozen on the device).  Default: every iteration on NumPy
            and CPU tensors, every 16 on accelerators (fewer host synchronisations).

    Returns:
        The denoised image, same shape and kind; differentiable with respect to ``image`` on torch.

    Example:
        >>> import numpy as np, segmath
        >>> segmath.tv_denoise(np.array([0., 0., 1., 0., 0.]), weight=0.25).round(3)
        array([0.   , 0.167, 0.667, 0.167, 0.   ])
    """
    u, axis, spatial = _prepare(image, weight, eps, max_num_iter, channel_axis, tv)
    every = _check_every(u, check_every)
    if P.is_numpy(u):
        # NumPy: the same iteration with preallocated buffers, one channel at a time (no autograd to keep)
        out = np.stack([_chambolle_inplace(c, float(weight), float(eps), int(max_num_iter), tv) for c in u])
    else:
        out = _chambolle(P.namespace(u), u, float(weight), float(eps), int(max_num_iter), spatial, tv, every)
    if axis is not None:
        out = P.namespace(u).moveaxis(out, 0, axis)
    else:
        out = out[0]
    return out


def _prepare(image, weight, eps, max_num_iter, channel_axis, tv):
    check_array(image, "image", floating=True)
    check_positive(weight, "weight")
    check_positive(eps, "eps")
    check_scalar(max_num_iter, "max_num_iter", low=1, integer=True)
    check_choice(tv, "tv", TV_NORMS)
    check_finite(image, "image")
    xp = P.namespace(image)
    dtype = P.float_dtype(image)
    u = image if image.dtype == dtype else xp.astype(image, dtype)
    if channel_axis is None:
        u, axis = u[None, ...], None
    else:
        check_scalar(channel_axis, "channel_axis", low=-image.ndim, high=image.ndim - 1, integer=True)
        if image.ndim < 2:
            raise ValueError("channel_axis needs an image with at least one spatial axis besides the channels")
        axis = channel_axis % image.ndim
        u = xp.moveaxis(u, axis, 0)
    return u, axis, tuple(range(1, u.ndim))


def _check_every(u, check_every):
    if check_every is not None:
        return check_scalar(check_every, "check_every", low=1, integer=True)
    return 1 if P.device(u) == "cpu" or str(P.device(u)) == "cpu" else 16


def _energy(xp, d, mags, weight, spatial, size):
    """skimage's E: (sum d^2 + w * TV) / size, one value per channel."""
    e = xp.sum(d * d, axis=spatial) if d is not None else 0.0
    tv = sum(xp.sum(m, axis=spatial) for m in mags)
    return (e + weight * tv) / size


def _chambolle(xp, f, weight, eps, max_num_iter, spatial, tv, every):
    channels = f.shape[0]
    size = float(np.prod(f.shape[1:]))
    tau = 1.0 / (2.0 * len(spatial))
    bshape = (channels,) + (1,) * len(spatial)
    p = None
    result, done = None, None
    e_init = e_prev = None
    for i in range(max_num_iter):
        # p is stored divided by tau: one multiply here instead of one per component below
        d = None if p is None else (-tau) * divergence(xp, p, spatial)
        out = f if d is None else f + d
        g = gradient(xp, out, spatial)
        mags = _magnitude(xp, g, tv)
        energy = _energy(xp, d, mags, weight, spatial, size)
        if i == 0:
            e_init = e_prev = energy
            done = xp.zeros(energy.shape, dtype=xp.bool, device=P.device(f))
            result = out
        else:
            stop = (xp.abs(e_prev - energy) < eps * e_init) & ~done
            # skimage keeps E_previous unchanged at the stopping step; later values are unused
            e_prev = xp.where(stop | done, e_prev, energy)
            if every == 1:
                if bool(xp.any(stop)):
                    result = xp.where(xp.reshape(stop, bshape), out, result)
            else:
                result = xp.where(xp.reshape(stop, bshape), out, result)
            done = done | stop
            if (i % every == 0 or every == 1) and bool(xp.all(done)):
                return result
        if i == max_num_iter - 1:
            break                        # the last update would not be used
        p = _update_dual(xp, p, g, mags, tau, weight, tv)
    if channels == 1 and every == 1:
        return out                       # not stopped early (else returned above)
    return xp.where(xp.reshape(done, bshape), result, out)


def _chambolle_inplace(f, weight, eps, max_num_iter, tv):
    """:func:`_chambolle` for one NumPy channel, in place (large temporaries cost page faults).

    Same operations in the same order, so results agree to rounding (the tests compare both
    with scikit-image).
    """
    nd = f.ndim
    tau = 1.0 / (2.0 * nd)
    p = np.zeros((nd,) + f.shape, dtype=f.dtype)          # p / tau, last slice along its axis stays 0
    g = np.zeros_like(p)                                   # last slice along its axis stays 0
    tmp = np.empty_like(p)
    d = np.zeros_like(f)
    out = f.copy()
    mag = np.empty_like(f)
    size = float(f.size)
    e_init = e_prev = None
    for i in range(max_num_iter):
        if i > 0:
            d[...] = 0.0
            for ax in range(nd):
                d -= p[ax]
                d[_slab(nd, ax, 1, None)] += p[ax][_slab(nd, ax, 0, -1)]
            d *= tau
            np.add(f, d, out=out)
        for ax in range(nd):
            np.subtract(out[_slab(nd, ax, 1, None)], out[_slab(nd, ax, 0, -1)], out=g[ax][_slab(nd, ax, 0, -1)])
        if tv == "anisotropic":
            np.abs(g, out=tmp)
            tv_sum = tmp.sum()
        else:
            np.multiply(g, g, out=tmp)
            np.sum(tmp, axis=0, out=mag)
            np.sqrt(mag, out=mag)
            tv_sum = mag.sum()
        energy = ((d * d).sum() + weight * tv_sum) / size
        if i == 0:
            e_init = e_prev = energy
        elif abs(e_prev - energy) < eps * e_init:
            return out
        else:
            e_prev = energy
        if i == max_num_iter - 1:
            break
        den = tmp if tv == "anisotropic" else mag
        den *= tau / weight
        den += 1.0
        p -= g
        p /= den
    return out


def _slab(nd, axis, start, stop):
    index = [slice(None)] * nd
    index[axis] = slice(start, stop)
    return tuple(index)


def _update_dual(xp, p, g, mags, tau, weight, tv):
    """Chambolle's step for p / tau: (p/tau - g) / (1 + tau/w |g|)."""
    scale = tau / weight
    if tv == "anisotropic":
        den = [1.0 + scale * m for m in mags]
    else:
        den = [1.0 + scale * mags[0]] * len(g)
    if p is None:
        return [-gk / dk for gk, dk in zip(g, den)]
    return [(pk - gk) / dk for pk, gk, dk in zip(p, g, den)]


def total_variation(u, tv="isotropic"):
    """Discrete TV of ``u`` (every axis spatial) with forward differences: isotropic or anisotropic."""
    check_choice(tv, "tv", TV_NORMS)
    xp = P.namespace(u)
    axes = tuple(range(u.ndim))
    return sum(xp.sum(m) for m in _magnitude(xp, gradient(xp, u, axes), tv))


def chambolle_dual(image, weight, n_iter, *, tau=None, tv="isotropic", p=None):
    r"""``n_iter`` steps of Chambolle's dual iteration with step ``tau``, no stopping rule.

    Returns ``(u, p)``: the primal image :math:`u = f - \operatorname{div} p` and the dual field
    ``p`` (a list, one array per axis, :math:`|p| \le w` when the step is small enough).  With the
    default :math:`\tau = 1/(2\,\mathrm{ndim})`, ``u`` equals ``tv_denoise(image, weight, max_num_iter=n_iter + 1)``
    without early stopping; Chambolle (2004) proves convergence for :math:`\tau \le 1/(4\,\mathrm{ndim})`
    (1/8 in the plane).  ``p`` continues from a previous call's field (default 0).  For the book's
    duality-gap experiments (THEORY S33, S36).
    """
    check_array(image, "image", floating=True)
    check_positive(weight, "weight")
    check_scalar(n_iter, "n_iter", low=0, integer=True)
    check_choice(tv, "tv", TV_NORMS)
    xp = P.namespace(image)
    axes = tuple(range(image.ndim))
    tau = 1.0 / (2.0 * image.ndim) if tau is None else check_positive(tau, "tau")
    p = [xp.zeros_like(image) for _ in axes] if p is None else list(p)
    if len(p) != len(axes) or any(tuple(c.shape) != tuple(image.shape) for c in p):
        raise ValueError(f"p must hold {len(axes)} arrays of the image's shape {tuple(image.shape)}")
    for _ in range(n_iter):
        g = gradient(xp, image - divergence(xp, p, axes), axes)
        mags = _magnitude(xp, g, tv)
        den = [1.0 + (tau / weight) * m for m in mags] if tv == "anisotropic" else \
            [1.0 + (tau / weight) * mags[0]] * len(g)
        p = [(pk - tau * gk) / dk for pk, gk, dk in zip(p, g, den)]
    return image - divergence(xp, p, axes), p
