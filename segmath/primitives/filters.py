"""Linear operators the post-processing filters are made of, with a NumPy/SciPy and a torch path.

- :class:`WeightedScatter`: ``n`` points each add ``k`` weighted copies of their value to rows of an
  ``(m, C)`` table (the permutohedral lattice's *splat*), and its transpose (the *slice*).  NumPy builds one
  SciPy CSR matrix once and applies it per call (a sparse product is several times faster than
  ``np.add.at``); torch uses ``index_add`` / ``index_select``, which autograd and CUDA handle.
- :func:`correlate_separable`: correlate the trailing spatial axes of ``(N, C, *spatial)`` with one 1-D
  filter per axis and zero padding (SciPy's ``correlate1d``; torch's depthwise ``conv{1,2,3}d``).
"""
from __future__ import annotations

import numpy as np

from .arrays import is_torch


class WeightedScatter:
    """``scatter(v)[r] = sum over (i, j) with index[i, j] == r of weight[i, j] * v[i]``; ``gather`` is its transpose.

    ``index`` ``(n, k)`` integers in ``[0, m)``, ``weight`` ``(n, k)`` float, both NumPy or both torch; values
    ``(n, C)`` to :meth:`scatter`, tables ``(m, C)`` to :meth:`gather`.
    """

    def __init__(self, index, weight, m):
        self.index, self.weight, self.m = index, weight, int(m)
        self.n, self.k = tuple(index.shape)
        self.torch = is_torch(index)
        if not self.torch:
            import scipy.sparse as sp
            cols = np.repeat(np.arange(self.n), self.k)
            self._matrix = sp.csr_matrix((np.asarray(weight).ravel(), (np.asarray(index).ravel(), cols)),
                                         shape=(self.m, self.n))

    def scatter(self, values):
        if not self.torch:
            return np.asarray(self._matrix @ values)
        c = values.shape[1]
        contrib = self.weight[:, :, None] * values[:, None, :]          # (n, k, C)
        return values.new_zeros((self.m, c)).index_add(0, self.index.reshape(-1), contrib.reshape(-1, c))

    def gather(self, table):
        if not self.torch:
            return np.asarray(self._matrix.T @ table)
        picked = table.index_select(0, self.index.reshape(-1)).reshape(self.n, self.k, -1)
        return (picked * self.weight[:, :, None]).sum(1)


def correlate_separable(q, taps):
    """Correlate the trailing ``len(taps)`` axes of ``q (N, C, *spatial)`` with ``taps[k]`` along axis ``2 + k``.

    Each tap is a 1-D array of odd length, centred; outside the grid counts as 0.
    """
    shape = tuple(q.shape)
    nd = len(taps)
    if not is_torch(q):
        from scipy.ndimage import correlate1d
        for k, t in enumerate(taps):
            q = correlate1d(q, t, axis=2 + k, mode="constant", cval=0.0)
        return q
    import torch.nn.functional as F
    conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    planes = shape[0] * shape[1]
    x = q.reshape((1, planes) + shape[2:])           # depthwise: one group per (image, class) plane
    for k, t in enumerate(taps):
        view = [1] * nd
        view[k] = t.shape[0]
        pad = [0] * nd
        pad[k] = (t.shape[0] - 1) // 2
        x = conv(x, t.reshape([1, 1] + view).expand([planes, 1] + view), padding=tuple(pad), groups=planes)
    return x.reshape(shape)
