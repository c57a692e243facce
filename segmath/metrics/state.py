r"""Streaming confusion statistics: evaluate a data set batch by batch, on one or many processes.

Every metric of :mod:`segmath.metrics.overlap`, :mod:`~segmath.metrics.rates` and
:mod:`~segmath.metrics.agreement` is a function of confusion counts, so a streaming
evaluation keeps only those counts:

* the dataset confusion matrix ``(C, C)`` int64 (``8 C^2`` bytes: 2.9 kB for Cityscapes'
  19 classes, 180 kB for ADE20K's 150): enough for every ``aggregate="dataset"`` value;
* with ``per_image=True`` (default), also per-image, per-class ``tp, fp, fn``: ``24 C``
  bytes per image (456 B per image for 19 classes: 2.3 MB for 5 000 images; 3.6 kB per
  image for 150 classes), needed for ``aggregate="image"`` / ``"none"``.  The full
  per-image ``C x C`` matrices are not kept (that would be ``8 C^2`` bytes per image), so
  weighted kappa and the per-image confusion matrix are available for the dataset only.

``update`` never leaves the device; ``sync`` is the one communication step: an
``all_reduce`` of the ``(C, C)`` matrix and an ``all_gather`` of the per-image counts
when ``torch.distributed`` is initialised, a no-op otherwise.

**Sample ids (``update(input, target, ids=...)``).**  A ``DistributedSampler`` without
``drop_last`` pads the last round with repeated samples, which a plain state counts twice.
Given integer ids (the sampler's dataset indices), a state counts each id once: a repeated
id, in the same batch, a later batch, a merged state or another process, is skipped (the
first occurrence is kept, and is assumed to be the same sample).  The state then keeps the
full ``(C, C)`` matrix of every id instead of the per-image ``tp, fp, fn``: ``8 C^2 + 8``
bytes per image (2.9 kB for 19 classes, 180 kB for 150: 0.9 GB for 5 000 ADE20K images;
there, prefer ``drop_last=True`` and no ids), and ``sync`` all-gathers those matrices and the
ids (no ``all_reduce``), then de-duplicates.  The ids are read on the host (with a CUDA
tensor of ids, one device-to-host copy per update).  In exchange the per-image matrices are
known, so per-image ``confusion_matrix`` and ``expected_cost`` work.  A state takes ids in
every update or in none.

Example:
    >>> import numpy as np, segmath
    >>> state = segmath.metrics.ConfusionState(num_classes=2)
    >>> y = np.array([[[0, 1], [1, 1]]]); p = np.array([[[0, 1], [0, 1]]])
    >>> _ = state.update(p, y).update(y, y)
    >>> round(float(state.compute("mean_iou", aggregate="dataset")), 6)   # classes: 2/3, 5/6
    0.75
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import primitives as P
from ..inputs import hard_labels
from ..validation import check_choice, check_ignore_index, check_scalar
from .average import AGGREGATES
from .confusion import (INPUT_OPTIONS, check_keywords, confusion, counts_from_matrix, counts_from_tp_fp_fn,
                        counts_metrics, form_options, score_guard, with_guard)

__all__ = ["ConfusionState"]


class ConfusionState:
    """Sufficient statistics of the confusion metrics, accumulated over batches.

    Args:
        num_classes: number of classes ``C`` (2 for binary one-channel input).
        ignore_index, from_logits, threshold: as in :func:`segmath.iou`; fixed for the state.
        per_image: also keep per-image counts (needed for ``aggregate="image"``).

    Methods: ``update(input, target, ids=None)`` adds a batch (``ids``: one integer per image,
    each counted once, see the module docstring); ``compute(metric, **options)`` evaluates
    any metric of :func:`~segmath.metrics.confusion.counts_metrics` (options as in the function of that name,
    a mistyped one named in the error); ``merge(other)`` adds another state (not itself: that would
    count every image twice); ``sync()`` returns the state summed over all processes; ``reset()``.
    """

    def __init__(self, num_classes, *, ignore_index=None, from_logits=True, threshold=0.5, per_image=True):
        check_scalar(num_classes, "num_classes", low=2, integer=True)
        # the options are fixed for the state's lifetime: check them now, not at the first update
        check_ignore_index(ignore_index)
        check_scalar(threshold, "threshold", low=0, high=1)
        for name, flag in (("from_logits", from_logits), ("per_image", per_image)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        self.num_classes = num_classes
        self.options = dict(ignore_index=ignore_index, from_logits=from_logits, threshold=threshold)
        self.per_image = per_image
        self.reset()

    def reset(self):
        self.matrix = None       # (C, C) int64 dataset confusion matrix
        self._images = []        # list of (n, 3, C) int64: tp, fp, fn per image
        self._dtype = None
        self._ndim = None        # spatial rank of the images seen (a spacing is checked against it)
        self._guard = None       # 0-d NaN once a NaN/inf score was counted with value checks off
        self._ids = None         # with ids: the ids counted, in order (a list of int); None: no ids given
        self._seen = set()       # the same ids, for the membership test
        self._id_rows = []       # with ids: list of (n, C, C) int64 matrices, one per counted id
        return self

    @property
    def ids(self):
        """The ids counted, in the order of the rows of ``aggregate="none"`` (None without ids)."""
        return None if self._ids is None else list(self._ids)

    @property
    def with_ids(self) -> bool:
        """Whether the updates gave sample ids (duplicates counted once)."""
        return self._ids is not None

    # -- accumulation ---------------------------------------------------------

    def update(self, input, target, ids=None):
        """Add a batch ``(input, target)`` (the shapes and conventions of :func:`segmath.iou`);
        ``ids``: ``N`` integer sample ids, each counted once over the state's lifetime."""
        hard = hard_labels(input, target, num_classes=self.num_classes, **self.options)
        xp = hard.xp
        batch_ids = self._check_ids(ids, hard.true.shape[0])
        self._check_rank(len(hard.spatial))
        self._add_guard(score_guard(hard))
        matrix = confusion(hard)                                   # (N, C, C)
        if batch_ids is not None:
            self._add_id_rows(xp, matrix, batch_ids, hard.dtype)
            return self
        self._add(xp.sum(matrix, axis=0), hard.dtype)
        if self.per_image:
            c = counts_from_matrix(xp, matrix, hard.dtype)
            self._images.append(xp.stack([c.tp, c.fp, c.fn], axis=1))
        return self

    def _check_ids(self, ids, n):
        """``ids`` as a list of ``n`` Python ints, or None; a state takes ids always or never."""
        if (ids is None) != (self._ids is None) and self.matrix is not None:
            raise ValueError("ids must be given in every update of a state or in none; this state was updated "
                             + ("with" if self._ids is not None else "without") + " ids")
        if ids is None:
            return None
        values = P.to_numpy(ids) if (P.is_torch(ids) or P.is_numpy(ids)) else ids
        try:
            values = np.asarray(values)
        except (TypeError, ValueError) as err:
            raise TypeError(f"ids must be a sequence of integers, got {type(ids).__name__}") from err
        if values.ndim != 1 or values.shape[0] != n or (n and not np.issubdtype(values.dtype, np.integer)):
            raise ValueError(f"ids must be {n} integers (one per image of the batch), got "
                             f"{values.dtype} of shape {values.shape}")
        return [int(v) for v in values]

    def _add_id_rows(self, xp, matrix, batch_ids, dtype):
        """Keep the matrices of the ids not counted yet (the first of repeats within the batch)."""
        keep, new = [], {}
        for i, sample in enumerate(batch_ids):
            if sample not in self._seen and sample not in new:
                new[sample] = i
                keep.append(i)
        rows = xp.take(matrix, P.asarray_like(keep, matrix, dtype=xp.int64), axis=0)
        self._add(xp.sum(rows, axis=0), dtype)          # first: it raises on a NumPy/torch mix
        self._ids = (self._ids or []) + list(new)
        self._seen.update(new)
        self._id_rows.append(rows)

    def _id_matrices(self):
        xp = P.namespace(self._id_rows[0])
        return xp.concat(self._id_rows, axis=0)

    def _add_guard(self, guard):
        if guard is not None:
            self._guard = guard if self._guard is None else self._guard + guard

    def _check_rank(self, ndim):
        if self._ndim is not None and ndim != self._ndim:
            raise ValueError(f"input must have {self._ndim} spatial dimensions like the earlier updates, "
                             f"got {ndim}")
        self._ndim = ndim

    def _add(self, matrix, dtype):
        if self.matrix is None:
            self.matrix, self._dtype = matrix, dtype
            return
        if P.is_torch(matrix) != P.is_torch(self.matrix):
            raise TypeError("a ConfusionState holds either NumPy or torch counts; this update mixes them")
        self.matrix = self.matrix + matrix

    def merge(self, other: "ConfusionState"):
        """Add the counts of ``other`` (same ``num_classes`` and options) to this state."""
        if not isinstance(other, ConfusionState):
            raise TypeError(f"other must be a ConfusionState, got {type(other).__name__}")
        if other is self:
            raise ValueError("other is this state itself: merging would count every image twice")
        if (other.num_classes, other.options, other.per_image) != (self.num_classes, self.options, self.per_image):
            raise ValueError("other must have the same num_classes, ignore_index, from_logits, threshold and "
                             "per_image as this state")
        if other.matrix is not None:
            if self.matrix is not None and self.with_ids != other.with_ids:
                raise ValueError("other must have been updated with ids if and only if this state was")
            if other._ndim is not None:
                self._check_rank(other._ndim)
            self._add_guard(other._guard)
            if other.with_ids:
                # the other's ids not counted here yet, with their matrices
                self._add_id_rows(P.namespace(other.matrix), other._id_matrices(), other._ids, other._dtype)
            else:
                self._add(other.matrix, other._dtype)
                self._images.extend(other._images)
        return self

    # -- distributed ------------------------------------------------------------

    def sync(self, process_group=None) -> "ConfusionState":
        """The state summed over all ``torch.distributed`` processes of ``process_group`` (default:
        the world) as a new state; ``self`` when torch.distributed is not initialised.  Every
        process of the group must call it (a collective).  A small all_reduce first tells every
        process whether ids were given; with ids, each id is counted once over all processes
        (rows in rank order, the first occurrence kept)."""
        try:
            import torch
            import torch.distributed as dist
        except ImportError:
            return self
        if not (dist.is_available() and dist.is_initialized()):
            return self
        numpy_state = self.matrix is not None and not P.is_torch(self.matrix)
        device = self._comm_device(torch, dist, process_group)
        if self._ids_anywhere(torch, dist, device, process_group):
            return self._sync_ids(torch, dist, device, process_group, numpy_state)
        matrix = self._as_tensor(torch, self.matrix, (self.num_classes, self.num_classes), device)
        dist.all_reduce(matrix, group=process_group)
        out = ConfusionState(self.num_classes, per_image=self.per_image, **self.options)
        out._ndim, out._guard = self._ndim, self._guard   # the guard stays local: no extra collective
        out.matrix, out._dtype = matrix, self._dtype if self._dtype is not None else torch.get_default_dtype()
        if self.per_image:
            out._images = [_all_gather_rows(torch, dist, self._local_images(torch, device), process_group)]
        if numpy_state:
            out.matrix = P.to_numpy(out.matrix)
            out._images = [P.to_numpy(a) for a in out._images]
        return out

    def _ids_anywhere(self, torch, dist, device, group):
        """Whether any process's state holds ids (one small all_reduce: every rank must take the same path)."""
        flags = torch.tensor([int(self.with_ids), int(self.matrix is not None and not self.with_ids)],
                             dtype=torch.int64, device=device)
        dist.all_reduce(flags, group=group)
        if flags[0] and flags[1]:
            raise ValueError("some processes updated their state with ids and some without; give ids everywhere")
        return bool(flags[0])

    def _sync_ids(self, torch, dist, device, group, numpy_state):
        """All-gather every process's ids and per-id matrices; keep the first occurrence of each id."""
        c = self.num_classes
        if self._id_rows:
            local = self._as_tensor(torch, self._id_matrices(), None, device)
            ids = torch.tensor(self._ids, dtype=torch.int64, device=device)
        else:
            local = torch.zeros((0, c, c), dtype=torch.int64, device=device)
            ids = torch.zeros((0,), dtype=torch.int64, device=device)
        rows = _all_gather_rows(torch, dist, local, group)
        all_ids = _all_gather_rows(torch, dist, ids, group)
        out = ConfusionState(c, per_image=self.per_image, **self.options)
        out._ndim, out._guard = self._ndim, self._guard   # the guard stays local: no extra collective
        dtype = self._dtype if self._dtype is not None else torch.get_default_dtype()
        if numpy_state:
            rows = P.to_numpy(rows)
        out._add_id_rows(P.namespace(rows), rows, [int(v) for v in all_ids.tolist()], dtype)
        return out

    def _comm_device(self, torch, dist, group=None):
        if self.matrix is not None and P.is_torch(self.matrix):
            return self.matrix.device
        if dist.get_backend(group) == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    @staticmethod
    def _as_tensor(torch, value, shape, device):
        if value is None:
            return torch.zeros(shape, dtype=torch.int64, device=device)
        # a copy: NumPy arrays and same-device tensors would otherwise share memory with the local state
        return torch.as_tensor(value, device=device).to(torch.int64).clone()

    def _local_images(self, torch, device):
        if not self._images:
            return torch.zeros((0, 3, self.num_classes), dtype=torch.int64, device=device)
        xp = P.namespace(self._images[0])
        return self._as_tensor(torch, xp.concat(self._images, axis=0), None, device)

    # -- results ----------------------------------------------------------------

    def counts(self, aggregate="image"):
        """The accumulated :class:`~segmath.metrics.confusion.Counts`: pooled (K = 1, with the
        matrix) for ``aggregate="dataset"``, per image otherwise."""
        check_choice(aggregate, "aggregate", AGGREGATES)
        if self.matrix is None:
            raise ValueError("the state is empty: call update(input, target) first")
        xp = P.namespace(self.matrix)
        # the spatial rank (not the sizes, which may vary by batch) lets a spacing be checked
        rank = () if self._ndim is None else (None,) * self._ndim
        if aggregate == "dataset":
            return replace(counts_from_matrix(xp, self.matrix[None, ...], self._dtype), spatial=rank)
        if not self.per_image:
            raise ValueError(f"aggregate={aggregate!r} needs per-image counts; create the state with "
                             "per_image=True or use aggregate='dataset'")
        if self.with_ids:   # the per-id matrices are kept: the full per-image counts
            return replace(counts_from_matrix(xp, self._id_matrices(), self._dtype), spatial=rank)
        rows = xp.concat(self._images, axis=0)
        return replace(counts_from_tp_fp_fn(xp, rows[:, 0, :], rows[:, 1, :], rows[:, 2, :], self._dtype),
                       spatial=rank)

    def compute(self, metric: str, **options):
        """Evaluate ``metric`` (a catalogue id of a count metric) on everything seen so far."""
        known = counts_metrics()
        if metric not in known:
            raise ValueError(f"metric must be one of {', '.join(sorted(known))}; got {metric!r}")
        form = known[metric].from_counts
        params = form_options(form)
        check_keywords(metric, options, params, fixed=tuple(INPUT_OPTIONS))
        aggregate = options.get("aggregate", params["aggregate"].default)
        c = self.counts(aggregate)
        return with_guard(c.xp, form(c, **options), self._guard)


def _all_gather_rows(torch, dist, local, group=None):
    """Concatenate ``(n_r, ...)`` tensors of every rank (n_r may differ): pad, all_gather, trim."""
    world = dist.get_world_size(group)
    size = torch.tensor([local.shape[0]], dtype=torch.int64, device=local.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size, group=group)
    sizes = [int(s) for s in sizes]        # a host read, acceptable in the one sync step
    longest = max(sizes)
    padded = torch.zeros((longest,) + tuple(local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[:local.shape[0]] = local
    gathered = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded, group=group)
    return torch.cat([g[:n] for g, n in zip(gathered, sizes)], dim=0)

