r"""From embeddings to instances: the threshold (mean-shift seeded) clustering of the discriminative family.

De Brabandere et al. (2017) cluster by picking an unassigned pixel, moving to the mean of the
unassigned embeddings around it (mean shift with a flat kernel) and taking every unassigned pixel
within the bandwidth of that centre as one instance; repeat until every pixel is assigned.  With the
loss at zero (every embedding within :math:`\delta_v` of its centre, centres at least :math:`2\delta_d`
apart), a final assignment around the true centre with radius ``b``, :math:`\delta_v \le b < 2\delta_d -
\delta_v`, takes exactly one instance (S27; :func:`segmath.theory.verify_discriminative_geometry`).

Runs on the host, per image (a clustering with a data-dependent number of clusters); torch inputs
come back as torch label maps on their device.
"""
from __future__ import annotations

import math

import numpy as np

from .. import primitives as P
from ..validation import check_array, check_scalar

__all__ = ["cluster_embeddings"]


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
