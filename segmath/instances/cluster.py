r"""From embeddings to instances: the threshold (mean-shift seeded) clustering of the discriminative family,
and the seed-based clustering of spatial embeddings (Neven et al. 2019).

De Brabandere et al. (2017) cluster by picking an unassigned pixel, moving to the mean of the
unassigned embeddings around it (mean shift with a flat kernel) and taking every unassigned pixel
within the bandwidth of that centre as one instance; repeat until every pixel is assigned.  With the
loss at zero (every embedding within :math:`\delta_v` of its centre, centres at least :math:`2\delta_d`
apart), a final assignment around the true centre with radius ``b``, :math:`\delta_v \le b < 2\delta_d -
\delta_v`, takes exactly one instance (S27; :func:`segmath.theory.verify_discriminative_geometry`).

:func:`cluster_embeddings` runs on the host, per image (a clustering with a data-dependent number of
clusters); torch inputs come back as torch label maps on their device.  :func:`cluster_spatial_embeddings`
is written once against the array API and runs on the input's device, all images of the batch at once.
"""
from __future__ import annotations

import math

import numpy as np

from .. import primitives as P
from ..validation import DataChecks, check_array, check_same_kind, check_scalar, check_scores

__all__ = ["cluster_embeddings", "cluster_spatial_embeddings"]


def _cluster_one(e, order, bandwidth, iterations, min_size):
    """Label vector (S,) for embeddings e (S, F) of the pixels to cluster, in the visiting ``order``."""
    labels = np.zeros(len(e), np.int64)
    free = np.ones(len(e), bool)
    nxt = 1
    for start in order:
        if not free[start]:
            continue
        centre = e[start]
        for _ in range(iterations):                      # flat-kernel mean shift over the free pixels
            near = free & (np.sum((e - centre) ** 2, axis=1) <= bandwidth ** 2)
            new = e[near].mean(0)
            if np.allclose(new, centre, rtol=0, atol=1e-12):
                break
            centre = new
        take = free & (np.sum((e - centre) ** 2, axis=1) <= bandwidth ** 2)
        take[start] = True                              # the seed always joins (no endless loop)
        free &= ~take
        if take.sum() >= min_size:
            labels[take] = nxt
            nxt += 1
    return _raster_order(labels)


def _raster_order(labels):
    """Renumber clusters 1, 2, ... by their first pixel in raster order (0 stays 0)."""
    ids, first = np.unique(labels, return_index=True)
    keep = ids != 0
    ranks = np.zeros(ids.max() + 1 if len(ids) else 1, np.int64)
    ranks[ids[keep][np.argsort(first[keep])]] = np.arange(1, keep.sum() + 1)
    return ranks[labels]


def cluster_embeddings(input, *, bandwidth=1.5, mask=None, iterations=20, min_size=1, seed=0):
    """Instance label maps ``(N, *spatial)`` (0 = not clustered; clusters numbered in raster order of their
    first pixel) from embeddings ``(N, F, *spatial)``.

    Args:
        input: embeddings.
        bandwidth: the radius of the flat kernel and of the final assignment (the discriminative loss's
            :math:`\\delta_d` by default, 1.5; see the module docstring for the exact-recovery range).
        mask: optional bool ``(N, *spatial)``: the pixels to cluster (e.g. a semantic foreground).
        iterations: mean-shift steps per cluster.
        min_size: clusters with fewer pixels are dropped (label 0).
        seed: the order in which pixels are tried as seeds (NumPy's generator).

    Example:
        >>> import numpy as np, segmath
        >>> x = np.array([[[[0.0, 0.1, 3.0, 3.1]]]])
        >>> segmath.instances.cluster_embeddings(x).tolist()
        [[[1, 1, 2, 2]]]
    """
    check_array(input, "input", min_ndim=3, floating=True)
    check_scalar(bandwidth, "bandwidth", low=0.0, low_open=True)
    if not math.isfinite(bandwidth):
        raise ValueError(f"bandwidth must be finite, got {bandwidth!r}")
    check_scalar(iterations, "iterations", low=0, integer=True)
    check_scalar(min_size, "min_size", low=1, integer=True)
    check_scalar(seed, "seed", low=0, integer=True)
    x = P.to_numpy(input).astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("input must be finite to be clustered; found NaN or inf")
    n, f = x.shape[:2]
    spatial = x.shape[2:]
    if mask is not None:
        check_array(mask, "mask", min_ndim=2)
        m = P.to_numpy(mask)
        if m.dtype != bool:
            raise TypeError(f"mask must be a bool array, got dtype {m.dtype}")
        if m.shape != (n,) + spatial:
            raise ValueError(f"mask must have shape {(n,) + spatial}, got {m.shape}")
    else:
        m = np.ones((n,) + spatial, bool)
    rng = np.random.default_rng(seed)
    out = np.zeros((n, int(np.prod(spatial))), np.int64)
    for i in range(n):                                   # images are independent: a host loop over them
        e = x[i].reshape(f, -1).T
        idx = np.nonzero(m[i].ravel())[0]
        if len(idx):
            out[i, idx] = _cluster_one(e[idx], rng.permutation(len(idx)), bandwidth, iterations, min_size)
    out = out.reshape((n,) + spatial)
    return P.asarray_like(out, input) if P.is_torch(input) else out


# ---- seed-based clustering of spatial embeddings ---------------------------------------------------

_TWO_LN2 = 2.0 * math.log(2.0)


def _check_spatial_inputs(offsets, sigma, seed, mask):
    """Validated shapes; the data checks (finite offsets, sigma > 0, seed in [0, 1]) read back once."""
    check_array(offsets, "offsets", min_ndim=3, floating=True)
    n, d = offsets.shape[0], offsets.shape[1]
    spatial = tuple(offsets.shape[2:])
    if d != len(spatial):
        raise ValueError(f"offsets must have one channel per spatial axis, (N, {len(spatial)}, *spatial) for "
                         f"{len(spatial)}-D images, got shape {tuple(offsets.shape)}")
    for arr, name in ((sigma, "sigma"), (seed, "seed")):
        check_array(arr, name, min_ndim=3, floating=True)
        check_same_kind(offsets, arr, "offsets", name)
    if tuple(sigma.shape) not in ((n, 1) + spatial, (n, d) + spatial):
        raise ValueError(f"sigma must have shape (N, 1, *spatial) = {(n, 1) + spatial} or (N, D, *spatial) = "
                         f"{(n, d) + spatial} for offsets of shape {tuple(offsets.shape)}, got {tuple(sigma.shape)}")
    if tuple(seed.shape) != (n, 1) + spatial:
        raise ValueError(f"seed must have shape (N, 1, *spatial) = {(n, 1) + spatial} for offsets of shape "
                         f"{tuple(offsets.shape)}, got {tuple(seed.shape)}")
    if mask is not None:
        check_array(mask, "mask", min_ndim=2)
        check_same_kind(offsets, mask, "offsets", "mask")
        if mask.dtype != P.namespace(mask).bool:
            raise TypeError(f"mask must be a bool array, got dtype {mask.dtype}")
        if tuple(mask.shape) != (n,) + spatial:
            raise ValueError(f"mask must have shape (N, *spatial) = {(n,) + spatial}, got {tuple(mask.shape)}")
    checks = DataChecks()
    check_scores(offsets, "offsets", checks=checks)
    check_scores(seed, "seed", probabilities=True, checks=checks)
    if checks.enabled:
        xp = P.namespace(sigma)
        lo, hi = P.minmax(sigma)
        checks.require(~((lo > 0) & xp.isfinite(hi)), lambda: ValueError(
            f"sigma must be positive and finite (a bandwidth); found min={float(lo):.4g}, max={float(hi):.4g}"))
    checks.resolve()
    return n, d, spatial


def cluster_spatial_embeddings(offsets, sigma, seed, *, threshold=0.5, foreground=0.5, mask=None, min_size=1,
                               pixel_size=None):
    r"""Seed-based clustering of spatial embeddings (the inference of Neven et al. 2019): instance label
    maps ``(N, *spatial)``, 0 = no instance, clusters numbered 1, 2, ... in the order they were found
    (decreasing seed score).

    Each pixel ``x`` sits at the embedding :math:`e_x = x\,h + o_x` (its coordinate times
    ``h = pixel_size`` plus its offset, as in :func:`segmath.spatial_embedding`).  Repeat, for each image:
    among the unclustered foreground pixels take the one with the largest seed score :math:`s_x`; stop if
    it is not above ``threshold``; otherwise its embedding is the centre :math:`C = e_x` and its bandwidth
    :math:`\sigma = \sigma_x` the width, and every unclustered foreground pixel ``p`` with

    .. math:: \phi(p) = \exp\Big(-\frac{\|e_p - C\|^2}{2\sigma^2}\Big) > \tfrac12
       \iff \|e_p - C\| < \sigma\sqrt{2\ln 2}

    joins the cluster (the seed itself always does: :math:`\phi = 1`).  Those pixels are then clustered; the
    cluster keeps its label if it has at least ``min_size`` pixels and is dropped (label 0) otherwise.  With
    ``D`` bandwidth channels the distance is per axis, :math:`\sum_d (e_{p,d} - C_d)^2/\sigma_d^2 < 2\ln 2`.

    The loop over clusters is inherent: which pixel seeds the next cluster depends on which pixels the
    previous clusters took.  It runs for all images of the batch at once, on the input's device, with
    one host read per round (is any seed left above the threshold?); the work per round is
    :math:`O(N D S)`.  Every round clusters at least its seed, so it ends after at most ``S`` rounds.

    Args:
        offsets: ``(N, D, *spatial)`` float, ``D`` the spatial rank: the offsets :math:`o_x` (already
            bounded, e.g. :math:`\tanh` of a network output, in the units of ``pixel_size``).
        sigma: ``(N, 1, *spatial)`` (or ``(N, D, *spatial)``, one per axis) positive bandwidths
            (:math:`\exp` of the network's ``s`` channel for :func:`segmath.spatial_embedding`).
        seed: ``(N, 1, *spatial)`` seed scores in [0, 1] (the sigmoid of the seed logit).
        threshold: a cluster starts only at a seed score strictly above it.
        foreground: without ``mask``, the pixels to cluster are those with a seed score strictly above it.
        mask: optional bool ``(N, *spatial)``: the pixels to cluster (e.g. a semantic foreground).
        min_size: clusters with fewer pixels are dropped (their pixels stay 0 and are not clustered again).
        pixel_size: the coordinate step ``h`` (``None``: 1 / the longest spatial side, as
            :func:`segmath.spatial_embedding`).

    Returns:
        int64 label maps ``(N, *spatial)`` of the input's kind and device.

    Example:
        >>> import numpy as np, segmath
        >>> o = np.array([[[0.0, -1.0, 1.0, 0.0, -1.0]]])   # 1-D: pixels 0..4 point at 0, 0, 3, 3, 3
        >>> s = np.ones((1, 1, 5)); q = np.array([[[0.9, 0.6, 0.7, 0.95, 0.8]]])
        >>> segmath.instances.cluster_spatial_embeddings(o, s, q, pixel_size=1.0).tolist()
        [[2, 2, 1, 1, 1]]
    """
    check_scalar(threshold, "threshold", low=0.0, high=1.0)
    check_scalar(foreground, "foreground", low=0.0, high=1.0)
    check_scalar(min_size, "min_size", low=1, integer=True)
    n, d, spatial = _check_spatial_inputs(offsets, sigma, seed, mask)
    if pixel_size is None:
        pixel_size = 1.0 / max(spatial)
    else:
        check_scalar(pixel_size, "pixel_size", low=0.0, low_open=True)
        if not math.isfinite(pixel_size):
            raise ValueError(f"pixel_size must be finite, got {pixel_size!r}")
    from .losses import _grid
    xp = P.namespace(offsets)
    s = int(np.prod(spatial))
    dtype = P.float_dtype(offsets)
    emb = _grid(xp, spatial, float(pixel_size), xp.astype(offsets, dtype))[None] + \
        xp.reshape(xp.astype(offsets, dtype), (n, d, s))                                   # (N, D, S)
    width = xp.reshape(xp.astype(sigma, dtype), (n, sigma.shape[1], s))                   # (N, 1 or D, S)
    score = xp.reshape(xp.astype(seed, dtype), (n, s))
    free = score > foreground if mask is None else xp.reshape(mask, (n, s))
    labels = xp.zeros((n, s), dtype=xp.int64, device=P.device(offsets))
    count = xp.zeros((n,), dtype=xp.int64, device=P.device(offsets))
    taken = xp.asarray(-1.0, dtype=dtype, device=P.device(offsets))   # below every seed score
    while True:                                        # one round per cluster (see the docstring)
        avail = xp.where(free, score, taken)
        best = xp.argmax(avail, axis=1)[:, None]                                              # (N, 1)
        active = P.take_along(avail, best, axis=1)[:, 0] > threshold                          # (N,)
        if not bool(xp.any(active)):                  # the one host read of the round
            break
        centre = P.take_along(emb, best[:, None, :], axis=2)                                  # (N, D, 1)
        w = P.take_along(width, best[:, None, :], axis=2)                                     # (N, 1|D, 1)
        inside = xp.sum(((emb - centre) / w) ** 2, axis=1) < _TWO_LN2                        # phi > 1/2
        take = free & inside & active[:, None]
        keep = active & (xp.sum(xp.astype(take, xp.int64), axis=1) >= min_size)
        count = count + xp.astype(keep, xp.int64)
        labels = xp.where(take & keep[:, None], count[:, None], labels)
        free = free & ~take
    return xp.reshape(labels, (n,) + spatial)
