r"""The permutohedral lattice (Adams, Baek & Davis 2010) in plain array operations.

Gaussian filtering :math:`v_i \mapsto \sum_j \exp(-\tfrac12\|f_i - f_j\|^2)\, v_j` in a D-dimensional
feature space, approximately and in time linear in the number of points:

1. *elevate* each feature vector onto the hyperplane :math:`\sum_k x_k = 0` of
   :math:`\mathbb{R}^{D+1}`, scaled so that the lattice blur below has unit standard deviation;
2. find the enclosing simplex of the lattice :math:`A_D^*` (its D+1 vertices and the barycentric
   weights) by rounding and sorting;
3. *splat*: each point adds its value to its D+1 vertices with its barycentric weights (a scatter-add);
4. *blur*: along each of the D+1 lattice directions, :math:`L \leftarrow \tfrac12 L + \tfrac14 (L^+ + L^-)`
   over the occupied vertices (a gather; missing neighbours count as 0);
5. *slice*: each point reads back the barycentric mix of its vertices (a gather).

The vertices are identified by integer keys packed into one int64 code per vertex (mixed radix, the
image index as the most significant digit, so a batch shares one lattice without mixing images);
``unique`` numbers the occupied vertices and ``searchsorted`` finds blur neighbours.  Everything data
dependent (the number of vertices) is settled when the lattice is built, once per call; the filter
itself is gathers, one scatter-add and arithmetic, with no host synchronisation.

Why the lattice and not a bilateral grid: the bilateral feature space of an RGB image is 5-D (6-D for a
volume), where a dense grid at the kernel's scale needs memory exponential in D and multilinear splatting
touches :math:`2^D` corners per point; the lattice touches D+1 vertices and stores only occupied ones,
so memory stays linear in pixels.

Scale.  The splat/blur/slice chain is mass preserving per lattice cell, so its kernel integrates to the
cell volume :math:`V = (3/2)^{D/2} / \sqrt{D+1}` (in units of the scaled features) instead of
:math:`(2\pi)^{D/2}`; the output is multiplied by :math:`(2\pi)^{D/2}/V` so that it approximates the
*unnormalised* Gaussian (pydensecrf instead uses an empirical constant and relies on normalisation).
"""
from __future__ import annotations

import math


from .. import primitives as P


class Lattice:
    """A permutohedral lattice built from features ``(n_points, D)`` (already divided by the bandwidth).

    ``batch`` (optional, ``(n_points,)`` integers) keeps points of different images apart.
    :meth:`filter` applies the approximate Gaussian to values ``(n_points, C)``.
    """

    def __init__(self, features, batch=None):
        xp = P.namespace(features)
        self.xp = xp
        feats = P.detach(features)
        n, d = feats.shape
        self.n, self.d = n, d
        rem0, rank, bary = _enclosing_simplex(xp, feats)
        keys = _vertex_keys(xp, rem0, rank, d)                           # (n, d+1, d+1) int64
        codes, self._neighbour_delta = _pack(xp, keys, batch, d)          # (n, d+1)
        table, inverse = xp.unique_inverse(xp.reshape(codes, (-1,)))
        self.m = int(table.shape[0])
        self.vertex = xp.reshape(inverse, (n, d + 1))                     # which vertex, per point and corner
        self.weight = xp.astype(bary, feats.dtype)                        # barycentric weight, (n, d+1)
        # neighbour rows in the extended table (row m is a zero row that maps to itself)
        tail = xp.asarray([self.m], dtype=xp.int64, device=P.device(feats))
        self.neighbours = [xp.concat([_find(xp, table, table + s * delta, self.m), tail])
                           for delta in self._neighbour_delta for s in (1, -1)]
        self.scale = math.sqrt(d + 1) * (4.0 * math.pi / 3.0) ** (d / 2)
        self._splat = P.WeightedScatter(self.vertex, self.weight, self.m + 1)  # row m is never written

    def filter(self, values):
        """Approximately :math:`\\sum_j \\exp(-\\frac12 \\|f_i - f_j\\|^2) v_j` for ``values (n, C)``."""
        xp = self.xp
        lat = self._splat.scatter(values)                                # (m + 1, C), row m stays 0
        for j in range(self.d + 1):
            up, down = self.neighbours[2 * j], self.neighbours[2 * j + 1]
            lat = 0.5 * lat + 0.25 * (xp.take(lat, up, axis=0) + xp.take(lat, down, axis=0))
        return self.scale * self._splat.gather(lat)


def _enclosing_simplex(xp, feats):
    """Elevation onto the hyperplane, the nearest remainder-0 point, the simplex's ordering and weights."""
    n, d = feats.shape
    dt = feats.dtype
    dev = P.device(feats)
    inv_std = math.sqrt(2.0 / 3.0) * (d + 1)
    j = xp.arange(d, dtype=dt, device=dev)
    cf = feats * (inv_std / xp.sqrt((j + 1) * (j + 2)))                # (n, d)
    # elevated_k = sum_{i >= k} cf_i - k cf_{k-1}  (Adams et al.'s E matrix, applied without forming it)
    tail = xp.flip(xp.cumulative_sum(xp.flip(cf, axis=1), axis=1), axis=1)
    zeros = xp.zeros((n, 1), dtype=dt, device=dev)
    tail = xp.concat([tail, zeros], axis=1)
    k = xp.arange(d + 1, dtype=dt, device=dev)
    shifted = xp.concat([zeros, cf], axis=1)
    elevated = tail - k * shifted                                     # (n, d+1), rows sum to 0
    down = xp.round(elevated / (d + 1))
    rem0 = down * (d + 1)
    total = xp.astype(xp.sum(down, axis=1), xp.int64)
    diff = elevated - rem0
    # rank_i = position of coordinate i in decreasing order of diff (ties broken by index)
    later = diff[:, None, :] > diff[:, :, None]
    ties = (diff[:, None, :] == diff[:, :, None]) & (xp.arange(d + 1, device=dev)[None, :] <
                                                     xp.arange(d + 1, device=dev)[:, None])[None]
    rank = xp.astype(xp.sum(later | ties, axis=2), xp.int64) + total[:, None]
    # the rounded point may lie off the plane (total != 0): move it back by one lattice step
    low, high = rank < 0, rank > d
    rank = xp.where(low, rank + (d + 1), xp.where(high, rank - (d + 1), rank))
    rem0 = xp.where(low, rem0 + (d + 1), xp.where(high, rem0 - (d + 1), rem0))
    v = (elevated - rem0) / (d + 1)
    slots = xp.arange(d + 2, device=dev)
    plus = xp.astype((d - rank)[:, :, None] == slots, dt)
    minus = xp.astype((d - rank + 1)[:, :, None] == slots, dt)
    bary = xp.sum(v[:, :, None] * (plus - minus), axis=1)              # (n, d+2)
    first = bary[:, :1] + 1.0 + bary[:, d + 1:]
    bary = xp.concat([first, bary[:, 1:d + 1]], axis=1)
    return xp.astype(rem0, xp.int64), rank, bary


def _vertex_keys(xp, rem0, rank, d):
    """Integer coordinates of the D+1 simplex vertices: remainder r adds r or r-(D+1) by rank."""
    dev = P.device(rank)
    r = xp.arange(d + 1, device=dev)[None, :, None]                   # (1, r, 1)
    step = xp.where(rank[:, None, :] <= d - r, r, r - (d + 1))
    return rem0[:, None, :] + step                                    # (n, r, coordinate)


def _pack(xp, keys, batch, d):
    """One int64 code per vertex (first D coordinates + image index; the last coordinate is implied).

    Digits are padded by D+1 on both sides so that the blur neighbours (coordinates +-1 and -+D)
    stay inside their digit; returns the codes and, per lattice direction, the code offset of a
    neighbour.
    """
    lead = keys[..., :d] if d > 0 else keys[..., :0]
    lo = [int(v) for v in P.to_numpy(xp.min(xp.reshape(lead, (-1, d)), axis=0))]
    hi = [int(v) for v in P.to_numpy(xp.max(xp.reshape(lead, (-1, d)), axis=0))]
    pad = d + 1
    radix = [h - l + 1 + 2 * pad for l, h in zip(lo, hi)]
    strides, s = [], 1
    for rdx in radix:
        strides.append(s)
        s *= rdx
    images = 1 if batch is None else int(P.to_numpy(xp.max(batch))) + 1
    if s * images >= 2 ** 62:
        raise ValueError("the bilateral feature range is too wide for the lattice's 64-bit keys "
                         "(theta_alpha/theta_beta are tiny relative to the image's extent); "
                         "use larger thetas or method='exact'")
    dev = P.device(keys)
    offs = xp.asarray([pad - l for l in lo], dtype=xp.int64, device=dev)
    strd = xp.asarray(strides, dtype=xp.int64, device=dev)
    codes = xp.sum((lead + offs) * strd, axis=-1)
    if batch is not None:
        codes = codes + xp.astype(batch, xp.int64)[:, None] * s
    # a neighbour along direction j adds 1 to every coordinate and -(D+1) to coordinate j
    ones = sum(strides)
    deltas = [ones - (d + 1) * strides[j] for j in range(d)] + [ones]
    return codes, deltas


def _find(xp, table, codes, m):
    """Index of each code in the sorted ``table``, or ``m`` (the zero row) when absent."""
    pos = xp.searchsorted(table, codes)
    pos = xp.clip(pos, 0, m - 1) if hasattr(xp, "clip") else xp.minimum(pos, m - 1)
    hit = xp.take(table, pos) == codes
    return xp.where(hit, pos, xp.full_like(pos, m))
