r"""Streaming surface metrics: per-case, per-class values kept batch by batch, merged across processes.

Unlike the confusion metrics, a surface metric (Hausdorff, HD95, ASSD, NSD, boundary IoU,
boundary F1) has no small sufficient statistic: the HD95 of a dataset is not a function
of per-batch summaries.  What is mergeable is the table of per-case values, so
:class:`SurfaceState` keeps one row of ``K`` class values per case and metric (``8 K`` bytes
per case and metric: 80 kB for 10 000 cases of one class) and reduces it at the end.

**Case ids.**  ``update(input, target, ids=...)`` names each image of the batch.  A case
seen again with the same values is counted once: that is what a distributed sampler's
padding produces (``DistributedSampler`` repeats images so every rank gets as many), and
counting it twice would move every mean (pytorch #25162).  A case seen again with
*different* values is an error.  Without ``ids`` each image gets a fresh id.

**Where the values live.**  The metrics run on the input's device; their ``(N, K)``
results (a few numbers per batch) are copied to the host as float64 in ``update``, so the
state pickles, merges and syncs as plain Python objects (``all_gather_object``).

Example:
    >>> import numpy as np
    >>> from segmath.evaluate import SurfaceState
    >>> y = np.zeros((2, 8, 8), np.int64); y[:, 2:5, 2:5] = 1
    >>> p = np.roll(y, 1, axis=1)
    >>> s = SurfaceState(("hausdorff", "nsd"), num_classes=2).update(p, y, ids=["a", "b"])
    >>> _ = s.update(p[:1], y[:1], ids=["a"])   # padding: "a" again, counted once
    >>> # a one-pixel shift: Hausdorff 1, every contour point within the tolerance 1 (NSD 1)
    >>> len(s), float(s.compute("hausdorff")), float(s.compute("nsd"))
    (2, 1.0, 1.0)
"""
from __future__ import annotations

import inspect
import itertools
import math
import uuid

import numpy as np

REDUCTIONS = ("mean", "class", "none")


def surface_metrics():
    """Catalogue ids usable in a :class:`SurfaceState` (per-image, per-class surface values)."""
    import segmath
    return sorted(e.id for e in segmath.catalogue("metric")
                  if {"reduction", "include_background", "spacing"} <= set(inspect.signature(e.fn).parameters))


class SurfaceState:
    """Per-case, per-class surface metric values, accumulated over batches.

    Args:
        metrics: catalogue ids (see :func:`surface_metrics`).
        num_classes, from_logits, threshold, include_background: as in :func:`segmath.hd95`,
            fixed for the state.
        spacing: default voxel spacing (``update`` may give one per batch).
        options: extra keyword arguments per metric, e.g. ``{"nsd": {"tolerance": 2.0}}``.

    Methods: ``update(input, target, ids=None, spacing=None)``; ``compute(metric, reduction)``
    with ``reduction`` "mean" (over every finite-or-inf (case, class) value; NaN left out),
    "class" (per-class means, ``(K,)``) or "none" (the ``(cases, K)`` table, sorted by id);
    ``merge(other)``; ``sync(process_group=None)``; ``reset()``; ``ids``.
    """

    def __init__(self, metrics=("hausdorff", "hd95", "assd", "nsd"), *, num_classes=None, from_logits=True,
                 threshold=0.5, include_background=False, spacing=None, options=None):
        if isinstance(metrics, str):
            metrics = (metrics,)
        known = surface_metrics()
        bad = [m for m in metrics if m not in known]
        if bad or not metrics:
            raise ValueError(f"metrics must be surface metrics ({', '.join(known)}); got {list(metrics)!r}")
        options = {m: dict(o) for m, o in (options or {}).items()}
        if set(options) - set(metrics):
            raise ValueError(f"options given for {sorted(set(options) - set(metrics))}, not in metrics")
        self.metrics = tuple(metrics)
        self.settings = {"num_classes": num_classes, "from_logits": from_logits, "threshold": threshold,
                         "include_background": include_background}
        self.spacing, self.options = spacing, options
        self._auto = f"{uuid.uuid4().hex[:12]}:"
        self._counter = itertools.count()
        self.reset()

    def reset(self):
        self._rows = {}                     # id -> (M, K) float64 array
        return self

    def __len__(self):
        return len(self._rows)

    @property
    def ids(self):
        return sorted(self._rows, key=str)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_counter"] = next(self._counter)         # itertools.count does not pickle on every version
        return state

    def __setstate__(self, state):
        state["_counter"] = itertools.count(state["_counter"])
        self.__dict__.update(state)

    # -- accumulating ------------------------------------------------------------

    def update(self, input, target, *, ids=None, spacing=None):
        """Add a batch: every metric per image and class (``(N, K)``), stored under ``ids``."""
        import segmath
        spacing = self.spacing if spacing is None else spacing
        tables = []
        for m in self.metrics:
            value = segmath.get(m).fn(input, target, spacing=spacing, reduction="none",
                                      **self.settings, **self.options.get(m, {}))
            tables.append(_host(value))
        n = tables[0].shape[0]
        if ids is None:
            ids = [f"{self._auto}{next(self._counter)}" for _ in range(n)]
        ids = list(ids)
        if len(ids) != n:
            raise ValueError(f"ids must name the {n} images of the batch; got {len(ids)}")
        if len(set(ids)) != n:
            raise ValueError("ids name one image twice within the batch")
        rows = np.stack(tables, axis=1)                 # (N, M, K)
        for i, case in enumerate(ids):
            self._put(case, rows[i])
        return self

    def _put(self, case, row):
        old = self._rows.get(case)
        if old is not None:
            if old.shape != row.shape or not np.array_equal(old, row, equal_nan=True):
                raise ValueError(f"case {case!r} was added twice with different values")
            return
        if self._rows and row.shape != next(iter(self._rows.values())).shape:
            raise ValueError(f"case {case!r} has {row.shape[1]} classes; the state holds "
                             f"{next(iter(self._rows.values())).shape[1]}")
        self._rows[case] = row

    def merge(self, other: "SurfaceState"):
        """Add the cases of ``other`` (same metrics and options); a shared case must agree."""
        if not isinstance(other, SurfaceState):
            raise TypeError(f"other must be a SurfaceState, got {type(other).__name__}")
        if (other.metrics, other.settings, other.options) != (self.metrics, self.settings, self.options):
            raise ValueError("other must have the same metrics, settings and options as this state")
        for case, row in other._rows.items():
            self._put(case, row)
        return self

    def sync(self, process_group=None) -> "SurfaceState":
        """The state merged over every rank of a ``torch.distributed`` group (a new state; a collective).

        ``self`` when torch.distributed is not initialised.  Cases duplicated across ranks
        (sampler padding) are counted once.
        """
        try:
            import torch.distributed as dist
        except ImportError:
            return self
        if not (dist.is_available() and dist.is_initialized()):
            return self
        gathered = [None] * dist.get_world_size(process_group)
        dist.all_gather_object(gathered, self._rows, group=process_group)
        out = SurfaceState(self.metrics, spacing=self.spacing, options=self.options, **self.settings)
        for rows in gathered:
            for case, row in rows.items():
                out._put(case, row)
        return out

    # -- results ----------------------------------------------------------------

    def table(self, metric):
        """``(ids, values)``: the case ids (sorted) and their ``(cases, K)`` values of ``metric``."""
        if metric not in self.metrics:
            raise ValueError(f"metric must be one of {', '.join(self.metrics)}; got {metric!r}")
        if not self._rows:
            raise ValueError("the state is empty: call update(input, target) first")
        j = self.metrics.index(metric)
        ids = self.ids
        return ids, np.stack([self._rows[c][j] for c in ids])

    def compute(self, metric, reduction="mean"):
        """``metric`` over every case seen: the mean, the per-class means, or the table (NaN left out of means)."""
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")
        _, values = self.table(metric)
        if reduction == "none":
            return values
        if reduction == "class":
            return np.array([_nanmean(values[:, k]) for k in range(values.shape[1])])
        return np.float64(_nanmean(values.ravel()))


def _nanmean(v):
    keep = v[~np.isnan(v)]
    return float(keep.mean()) if keep.size else math.nan     # inf stays inf: an infinite distance is data


def _host(value):
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    value = np.asarray(value, dtype=np.float64)
    if value.ndim != 2:
        raise ValueError(f"expected an (N, K) table from the metric, got shape {value.shape}")
    return value
