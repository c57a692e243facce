r"""Distance transforms, binary morphology and connected components, per backend.

The second backend-specific module of segmath (the first is :mod:`segmath.primitives`):
everything here has a NumPy path built on ``scipy.ndimage`` (and ``scipy.spatial``) and a
pure-torch path that runs on the input's device, with no host round trip and no SciPy
call.  Tensors on an accelerator always take the torch path.  CPU tensors share their
memory with NumPy, so by default they take the SciPy path (no copy to a host: they are
on it), which is the faster one on a CPU; ``with cpu_backend("torch"):`` makes them take
the torch path instead (to measure it, or to test the accelerator code on a CPU).

**Exact Euclidean distance transform in torch.**  The squared distance to the nearest
zero separates over axes (Saito & Toriwaki; Felzenszwalb & Huttenlocher 2012):

.. math:: d^2(x) = \min_{j} \Big[ f(x_1,\dots,x_{k-1}, j, \dots) + s_k^2 (x_k - j)^2 \Big]

applied one axis at a time, starting from :math:`f = 0` at zeros and :math:`\infty`
elsewhere.  The first axis is a 1-D nearest-zero scan (``cummax``/``cummin`` of the
indices of zeros, both directions).  Every later axis is a min-plus transform along
lines, solved exactly by one of these algorithms, each batched over all lines at once:

* ``"window"`` (torch default on a CPU): tries offsets ``|i - j| <= R`` with ``R``
  doubling; an entry with ``out(i) <= w (R + 1)^2`` is then exact, and lines whose
  entries all are leave.  Two whole-column slice minima per offset; lines that would
  need a large ``R`` (sparse zeros) go to the sweep.
* ``"sweep"``: the same lower envelope with every line inserting site
  ``q`` at step ``q`` (column slices, no gathers for pushes); pops repeat while any line
  still pops, a one-bool read per round that costs nothing on the CPU.
* ``"envelope"``: Felzenszwalb–Huttenlocher's lower envelope of
  parabolas, written as a fixed-length state machine: each step either pushes the next
  parabola or pops the top of the stack, so ``2 n`` vectorised steps finish every line
  without a data-dependent ``while`` (no sync).  The envelope is then queried with one
  ``searchsorted``.  O(n) work per line, ~2n small kernels per axis.
* ``"bisect"`` (default on accelerators): the minimising ``j`` is non-decreasing in ``x_k``
  (a Monge property of :math:`(x-j)^2`), so rows are solved coarse to fine: row ``i``
  searches only between the minimisers of its already solved neighbours.  The ranges of
  one level tile ``[0, n)`` with shared end points, so a level is one flat array of
  ``n + rows`` candidates per line and a segment minimum (``scatter_reduce``).
  O(n log n) work per line but only ~log2(n) levels of ~12 kernels each.

All are exact (the same floating-point expression as a brute-force minimum).

**Distances between surfaces** (:func:`surface_distances`): the torch path takes the
EDT of the complement of the other surface; the SciPy path queries a KD-tree built on
the other surface's elements when the surfaces are sparse (a 3-D surface is a few
percent of its volume), which costs far less than a dense transform.

**Policy for masks without zeros.**  SciPy's ``distance_transform_edt`` returns a
meaningless finite map there (the distance to a phantom point outside the image);
segmath returns ``inf`` on every backend: the distance to the nearest point of an
empty set.
"""
from __future__ import annotations

import math

import numpy as np

from .arrays import is_torch
from .grid import _host_torch, _ndimage, _resolve, _result_dtype, _split, _torch, cpu_backend  # noqa: F401

__all__ = ["edt", "nearest_distance", "surface_distances", "compact", "cpu_backend"]


# -- Euclidean distance transform -------------------------------------------

def edt(mask, spacing, ndim: int, method: str = "auto", dtype=None):
    """Distance from every non-zero element to the nearest zero, over the last ``ndim`` axes.

    ``spacing`` is a tuple of ``ndim`` positive floats.  Leading axes are a batch.  A
    batch element with no zero is ``inf`` everywhere.  Returns floats of the mask's
    floating dtype (float64 on NumPy, the default dtype on torch, for bool/int masks)
    unless ``dtype`` is given.  ``method``: ``"auto"`` (see :func:`cpu_backend`),
    ``"scipy"`` (host arrays only) or a torch solver ``"window"``, ``"sweep"``,
    ``"envelope"``, ``"bisect"``.
    """
    method = _resolve(mask, method)
    if method == "scipy" or not is_torch(mask):
        return _via_numpy(_edt_numpy, mask, spacing, ndim, dtype)
    return _edt_torch(mask, spacing, ndim, method, dtype)


def _via_numpy(fn, *args):
    """Run a NumPy/SciPy path on NumPy arrays or CPU tensors (shared memory, same dtype rules)."""
    *arrays, spacing, ndim, dtype = args
    if not is_torch(arrays[0]):
        return fn(*arrays, spacing, ndim, dtype)
    torch = _torch()
    if arrays[0].device.type != "cpu":
        raise ValueError("method='scipy' needs host arrays; this tensor is on " + str(arrays[0].device))
    out_dtype = _result_dtype(arrays[0]) if dtype is None else dtype
    out = fn(*(a.detach().numpy() for a in arrays), spacing, ndim, np.float64)
    return torch.from_numpy(out).to(out_dtype)


def surface_distances(a, b, spacing, ndim: int, method: str = "auto", dtype=None):
    """Both directed distances between two bool masks: ``stack([d(a -> b) on a, d(b -> a) on b])``.

    Each is :func:`nearest_distance` (``inf`` off its query set and where the other mask is
    empty); the SciPy path finds each mask's elements once for both directions.
    """
    method = _resolve(a, method)
    if method == "scipy" or not is_torch(a):
        return _via_numpy(_pair_numpy, a, b, spacing, ndim, dtype)
    torch = _torch()
    return nearest_distance(torch.stack([a, b]), torch.stack([b, a]), spacing, ndim, method, dtype)


def _pair_numpy(a, b, spacing, ndim, dtype=None):
    cache = {}                                   # each mask's points and tree serve both directions
    out = np.stack([_nearest_numpy(a, b, spacing, ndim, cache), _nearest_numpy(b, a, spacing, ndim, cache)])
    return out.astype(np.float64 if dtype is None else dtype, copy=False)


def compact(mask, values):
    """Host arrays: the ``values`` selected by ``mask`` moved to the front of each row of the last axis.

    Returns ``(mask', values')`` with the last axis shrunk to the longest row, ``mask'``
    true on the first ``count`` entries of each row and ``values'`` ``inf`` after them, so a
    masked reduction gives the same result on far fewer elements (a surface is a few
    percent of a volume).  Tensors on an accelerator (or under ``cpu_backend("torch")``)
    come back unchanged: the shapes would depend on the data (a sync).
    """
    if is_torch(mask) and not _host_torch(mask):
        return mask, values
    m = mask.detach().numpy() if is_torch(mask) else np.asarray(mask)
    if is_torch(values) and values.dtype == _torch().bfloat16:    # NumPy has no bfloat16
        keep, out = compact(mask, values.float())
        return keep, out.to(values.dtype)
    v = values.detach().numpy() if is_torch(values) else np.asarray(values)
    counts = np.count_nonzero(m, axis=-1)
    width = max(1, int(counts.max(initial=0)))
    keep = np.arange(width) < counts[..., None]
    out = np.full(m.shape[:-1] + (width,), np.inf, dtype=v.dtype)
    out[keep] = v[m]                               # both in row-major order: row by row, in order
    if is_torch(mask):
        torch = _torch()
        return torch.from_numpy(keep), torch.from_numpy(out)
    return keep, out


def nearest_distance(query, target, spacing, ndim: int, method: str = "auto", dtype=None):
    """Distance from every element of ``query`` to the nearest element of ``target`` (bool masks).

    Both masks have the same shape; leading axes are a batch.  Exact at the elements of
    ``query``; ``inf`` elsewhere and wherever the batch element's ``target`` is empty.
    The torch solvers take the EDT of ``~target``.  The SciPy path (NumPy, CPU tensors)
    instead queries a KD-tree over the target's elements when both sets are sparse
    (surfaces: a few percent of the volume), where it is far cheaper than a dense
    transform, and the dense SciPy EDT otherwise.
    """
    method = _resolve(query, method)
    if method == "scipy" or not is_torch(query):
        return _via_numpy(lambda q, t, s, n, dt: _nearest_numpy(q, t, s, n).astype(dt, copy=False),
                          query, target, spacing, ndim, dtype)
    torch = _torch()
    d = _edt_torch(~target, spacing, ndim, method, dtype)
    return torch.where(query, d, math.inf)


# a KD-tree query costs about this many dense-EDT voxels per point (build + query, measured)
_KDTREE_POINT_COST = 8


def _nearest_numpy(query, target, spacing, ndim, cache=None):
    """SciPy path of :func:`nearest_distance` (float64); ``cache`` shares point sets and trees between calls."""
    from scipy.spatial import cKDTree
    batch, spatial = _split(query.shape, ndim)
    q = np.asarray(query, bool).reshape((-1,) + spatial)
    t = np.asarray(target, bool).reshape((-1,) + spatial)
    cache = {} if cache is None else cache
    out = np.full(q.shape, np.inf)
    step = np.asarray(spacing, dtype=np.float64)

    def points(name, mask, b):                   # elements of a mask, scaled, in C order (as mask[...])
        key = ("points", id(name), b)             # keyed by the caller's array, alive during the call
        if key not in cache:
            cache[key] = np.argwhere(mask[b]) * step
        return cache[key]

    for b in range(q.shape[0]):                  # SciPy path: one tree (or transform) per image
        qb, tb = q[b], t[b]
        nq, nt = np.count_nonzero(qb), np.count_nonzero(tb)
        if nq == 0 or nt == 0:
            continue
        if (nq + nt) * _KDTREE_POINT_COST < qb.size:
            key = ("tree", id(target), b)
            if key not in cache:
                # unbalanced, leaves of 32: the fastest build + query measured on surfaces
                cache[key] = cKDTree(points(target, t, b), leafsize=32, balanced_tree=False,
                                     compact_nodes=False)
            out[b][qb] = cache[key].query(points(query, q, b), workers=-1)[0]   # like torch: all threads
        else:
            out[b][qb] = _ndimage().distance_transform_edt(~tb, sampling=spacing)[qb]
    return out.reshape(query.shape)


def _edt_numpy(mask, spacing, ndim, dtype=None):
    batch, spatial = _split(mask.shape, ndim)
    inside = np.asarray(mask != 0).reshape((-1,) + spatial)
    out = np.empty(inside.shape, dtype=np.float64)
    for b in range(inside.shape[0]):          # SciPy path: one call per image
        if inside[b].all():
            out[b] = np.inf
        else:
            out[b] = _ndimage().distance_transform_edt(inside[b], sampling=spacing)
    return out.reshape(mask.shape).astype(_result_dtype(mask) if dtype is None else dtype, copy=False)


def _edt_torch(mask, spacing, ndim, method, dtype=None):
    torch = _torch()
    batch, spatial = _split(tuple(mask.shape), ndim)
    dtype = _result_dtype(mask) if dtype is None else dtype
    inside = (mask != 0).reshape((-1,) + spatial)
    f = _scan_last_axis(inside, float(spacing[-1]), dtype)          # squared 1-D distances
    for axis in range(ndim - 1):                                     # the remaining axes
        f = _along_axis(f, axis + 1, float(spacing[axis]) ** 2, method)
    return torch.sqrt(f).reshape(tuple(mask.shape))


def _scan_last_axis(inside, step, dtype):
    """Squared distance to the nearest zero along the last axis (inf when a line has none)."""
    torch = _torch()
    n = inside.shape[-1]
    idx = torch.arange(n, device=inside.device)
    zero = ~inside
    prev = torch.cummax(torch.where(zero, idx, -1), dim=-1).values
    nxt = torch.flip(torch.cummin(torch.flip(torch.where(zero, idx, n), (-1,)), dim=-1).values, (-1,))
    inf = torch.tensor(math.inf, dtype=dtype, device=inside.device)
    idx_f = idx.to(dtype)
    before = torch.where(prev >= 0, idx_f - prev.to(dtype), inf)
    after = torch.where(nxt < n, nxt.to(dtype) - idx_f, inf)
    d = torch.minimum(before, after) * step
    return d * d


def _along_axis(f, axis, weight, method):
    """Min-plus transform of ``f`` along ``axis``: out(i) = min_j f(j) + weight (i - j)^2."""
    if method in ("sweep", "window"):
        # column layout (n, lines): a shift along the axis is a contiguous row slice
        moved = f.movedim(axis, 0)
        shape = moved.shape
        cols = moved.reshape(shape[0], -1)
        solve = _window if method == "window" else _sweep_cols
        return solve(cols, weight).reshape(shape).movedim(0, axis)
    moved = f.movedim(axis, -1)
    shape = moved.shape
    lines = moved.reshape(-1, shape[-1])
    solve = {"envelope": _envelope, "bisect": _bisect}[method]
    return solve(lines, weight).reshape(shape).movedim(-1, axis)


# Rough CPU costs in units of one element of a slice minimum (measured on 2 cores): a sweep
# step costs a fixed ~1e5 (about 30 small kernel launches) plus ~60 per line.
_SWEEP_STEP, _SWEEP_LINE = 92_600, 63


def _window(f, w):
    """Exact min-plus of the columns of ``f`` (n, L) by growing windows, the rest by :func:`_sweep_cols`.

    After the offsets ``|i - j| <= R`` have been tried, an entry ``out(i) <= w (R + 1)^2`` is
    exact: every ``j`` outside the window costs at least ``w (R + 1)^2``.  ``R`` doubles and
    the columns that are exact leave; each offset is two slice minima over whole columns,
    so the loop runs ``O(R)`` times with no per-element Python work.  When the next
    doubling would cost more than sweeping the open columns (sparse zeros: far
    minimisers), those go to the sweep, whose cost does not depend on the distances.
    Either way the result is the exact minimum.
    """
    torch = _torch()
    n, lines = f.shape
    out = f.clone()
    idx = (f < math.inf).any(0).nonzero()[:, 0]          # all-inf columns are already exact
    if n == 1 or idx.numel() == 0:
        return out
    whole = idx.numel() == lines
    g = f if whole else f[:, idx]
    o = out if whole else out[:, idx]
    done, r = 0, 1
    while True:
        top = min(r, n - 1)
        for d in range(done + 1, top + 1):
            c = w * float(d * d)
            torch.minimum(o[d:], g[:-d] + c, out=o[d:])
            torch.minimum(o[:-d], g[d:] + c, out=o[:-d])
        done = top
        ok = None if top == n - 1 else (o <= w * float((top + 1) ** 2)).all(0)
        if ok is None or bool(ok.all()):
            if not (whole and o is out):
                out[:, idx] = o
            return out
        if whole and o is out:
            o = o.clone()                                   # ``out`` now receives finished columns
        out[:, idx[ok]] = o[:, ok]
        keep = ~ok
        idx, g, o = idx[keep], g[:, keep], o[:, keep]
        whole = False
        active = g < math.inf
        sweep_cost = int(active.any(1).sum()) * (_SWEEP_STEP + _SWEEP_LINE * idx.numel())
        if r * n * idx.numel() > sweep_cost:
            out[:, idx] = _sweep_cols(g.contiguous(), w)
            return out
        r *= 2


def _sweep_cols(ft, w):
    """CPU variant of :func:`_envelope` on columns ``ft`` (n, L): every line inserts site ``q`` at step ``q``.

    Site values are then plain row slices (no gather) and a push needs no re-read of
    the top; only pops re-read it.  The pop loop runs while any line still pops, which
    reads one bool back per round: free on the CPU (the only device it is used on), and
    the reason the accelerator default is ``"bisect"``.  The envelope is queried by
    scattering each parabola's index at the first grid point it owns and a running
    maximum down the column (cheaper than ``searchsorted`` on the CPU).
    """
    torch = _torch()
    n, lines = ft.shape
    dev, dt = ft.device, ft.dtype
    pos = torch.arange(n, device=dev, dtype=dt)
    gt = ft + (w * pos * pos)[:, None]
    usable_all = gt < math.inf
    site = torch.full((n + 1, lines), -1.0, dtype=dt, device=dev)
    height = torch.zeros((n + 1, lines), dtype=dt, device=dev)
    start = torch.full((n + 1, lines), -math.inf, dtype=dt, device=dev)
    k = torch.full((1, lines), -1, dtype=torch.int64, device=dev)
    top_site, top_height, top_start = site[:1].clone(), height[:1].clone(), start[:1].clone()
    two_w = 2.0 * w
    for q in usable_all.any(1).nonzero()[:, 0].tolist():              # rows without a site change nothing
        gq = gt[q:q + 1]
        usable = usable_all[q:q + 1]
        while True:
            s = (gq - top_height) / (two_w * (q - top_site))
            pop = usable & (s <= top_start)
            if not bool(pop.any()):
                break
            k = k - pop.long()
            kc = k.clamp(min=0)
            top_site, top_height, top_start = site.gather(0, kc), height.gather(0, kc), start.gather(0, kc)
        k = k + usable.long()
        s = s.masked_fill(k == 0, -math.inf)
        slot = n + (k - n) * usable.long()                            # row n for lines not pushing
        site.scatter_(0, slot, torch.full_like(s, float(q)))
        height.scatter_(0, slot, gq)
        start.scatter_(0, slot, s)
        top_site = torch.where(usable, float(q), top_site)
        top_height = torch.where(usable, gq, top_height)
        top_start = torch.where(usable, s, top_start)
    # parabola r >= 1 owns the grid points x > start_r, the first being floor(start_r) + 1
    entry = torch.arange(1, n + 1, device=dev)[:, None]
    first = (start[1:].clamp(-1.0, float(n - 1)).floor() + 1).long()
    first = first.masked_fill(entry > k, n)                           # stale entries: past the end
    marks = torch.zeros((n + 1, lines), dtype=torch.int64, device=dev)
    marks.scatter_reduce_(0, first, entry.expand(n, lines), "amax")
    which = marks.cummax(0).values[:n]
    nearest = site.gather(0, which)
    out = ft.gather(0, nearest.clamp(min=0).long()) + w * (pos[:, None] - nearest) ** 2
    return out.masked_fill(k < 0, math.inf)


def _sweep(f, w):
    """:func:`_sweep_cols` on rows ``f`` (L, n)."""
    return _sweep_cols(f.t().contiguous(), w).t()


def _envelope(f, w):
    """Felzenszwalb–Huttenlocher lower envelope for every line of ``f`` (L, n) at once.

    The stack of every line lives in ``(L, n + 1)`` arrays (site, f + w site^2, start);
    the extra column absorbs the writes of lines that do not push this step, so no
    step needs a data-dependent branch.  The top of the stack is kept in ``(L, 1)``
    tensors and re-read after each step.
    """
    torch = _torch()
    lines, n = f.shape
    dev, dt = f.device, f.dtype
    site = torch.full((lines, n + 1), -1.0, dtype=dt, device=dev)
    height = torch.zeros((lines, n + 1), dtype=dt, device=dev)
    start = torch.full((lines, n + 1), -math.inf, dtype=dt, device=dev)
    k = torch.full((lines, 1), -1, dtype=torch.int64, device=dev)     # top of the stack (-1: empty)
    q = torch.zeros((lines, 1), dtype=torch.int64, device=dev)        # next site to insert
    top_site, top_height, top_start = site[:, :1], height[:, :1], start[:, :1]
    two_w = 2.0 * w
    for _ in range(2 * n):   # each step pushes, pops or skips once: 2n steps finish every line
        fq = f.gather(1, q.clamp(max=n - 1))
        usable = (q < n) & (fq < math.inf)
        qf = q.to(dt)
        gq = fq + w * qf * qf
        s = (gq - top_height) / (two_w * (qf - top_site))          # where parabola q overtakes the top
        pop = usable & (s <= top_start)
        push = usable & ~pop
        k = k + push.long() - pop.long()
        slot = n + (k - n) * push.long()                            # column n for lines not pushing
        site.scatter_(1, slot, qf)
        height.scatter_(1, slot, gq)
        start.scatter_(1, slot, s.masked_fill(k == 0, -math.inf))
        q = q + (usable.logical_not() | push).long() * (q < n).long()
        kc = k.clamp(min=0)
        top_site, top_height, top_start = site.gather(1, kc), height.gather(1, kc), start.gather(1, kc)
    # starts above the final top are stale; searchsorted needs them sorted, so make them inf
    columns = torch.arange(1, n + 1, device=dev)
    bounds = start[:, 1:].masked_fill(columns[None, :] > k, math.inf)
    pos = torch.arange(n, device=dev, dtype=dt).expand(lines, n).contiguous()
    which = torch.searchsorted(bounds, pos, side="left").clamp(max=n - 1)
    nearest = site.gather(1, which)
    out = f.gather(1, nearest.clamp(min=0).long()) + w * (pos - nearest) ** 2
    return out.masked_fill(k < 0, math.inf)


def _bisect(f, w):
    """Exact min-plus by monotone row minima, coarse-to-fine (no data-dependent loop)."""
    torch = _torch()
    lines, n = f.shape
    dev, dt = f.device, f.dtype
    inf = torch.tensor(math.inf, dtype=dt, device=dev)
    arg = torch.zeros((lines, n), dtype=torch.int64, device=dev)
    out = torch.empty_like(f)
    top = 1 << max(0, (n - 1).bit_length())
    h = top
    while h >= 1:
        rows = torch.arange(0 if h == top else h, n, 2 * h, device=dev)
        r = rows.numel()
        if h == top:
            lo = torch.zeros((lines, 1), dtype=torch.int64, device=dev)
            hi = torch.full((lines, 1), n - 1, dtype=torch.int64, device=dev)
        else:
            lo = arg[:, rows - h]
            right = rows + h
            hi = torch.where(right < n, arg[:, right.clamp(max=n - 1)], torch.full_like(lo, n - 1))
        m = r + n - 1                                        # ranges tile [lo_0, hi_last]: <= n + r - 1
        start = lo - lo[:, :1] + torch.arange(r, device=dev)  # flat offset of each row's range
        marks = torch.zeros((lines, m + 1), dtype=torch.int64, device=dev)
        marks.scatter_(1, start, 1)
        seg = marks.cumsum(1)[:, :m] - 1                     # row of every flat slot
        flat = torch.arange(m, device=dev)
        j = flat - seg + lo[:, :1]
        valid = j <= hi.gather(1, seg)
        jc = j.clamp(0, n - 1)
        i = rows[seg].to(dt)
        val = torch.where(valid, f.gather(1, jc) + w * (i - jc.to(dt)) ** 2, inf)
        best = torch.full((lines, r), math.inf, dtype=dt, device=dev).scatter_reduce(
            1, seg, val, "amin", include_self=True)
        tie = valid & (val == best.gather(1, seg))
        cand = torch.where(tie, jc, torch.full_like(jc, n))
        a = torch.full((lines, r), n, dtype=torch.int64, device=dev).scatter_reduce(
            1, seg, cand, "amin", include_self=True)
        arg[:, rows] = a.clamp(max=n - 1)                    # all-inf rows: any j keeps monotonicity
        out[:, rows] = best
        h //= 2
    return out


