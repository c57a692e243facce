r"""A streaming, mergeable, ``torch.distributed``-syncable state for panoptic quality.

PQ, SQ and RQ are functions of per-image, per-category counts ``tp, fp, fn`` and the IoU sum of the
true positives, so a streaming evaluation keeps those (``32 C`` bytes per image: 128 B for COCO's
133 categories would be 4.3 kB; the per-image rows serve ``aggregate="image"``).  ``update`` counts
on the host (the matching is combinatorial); ``merge`` concatenates; ``sync`` gathers the rows of
every process once (``all_gather_object``) when ``torch.distributed`` is initialised, a no-op otherwise.

Example:
    >>> import numpy as np, segmath
    >>> t = np.zeros((1, 2, 2, 4), np.int64); t[0, 0] = 1; t[0, 1, :, 2:] = 1
    >>> state = segmath.instances.PanopticState(things=[1], stuffs=[])
    >>> _ = state.update(t, t).update(t[:, :, :, ::-1].copy(), t)
    >>> float(state.compute()["pq"])
    1.0
"""
from __future__ import annotations

import numpy as np

from .panoptic import _check_setup, panoptic_counts, quality_from_counts

__all__ = ["PanopticState"]

_KEYS = ("tp", "fp", "fn", "iou_sum")


class PanopticState:
    """Per-image PQ counts accumulated over batches (see the module docstring)."""

    def __init__(self, *, things, stuffs, void=None, crowd=None):
        self.things, self.stuffs, self.void, self.crowd = _check_setup(things, stuffs, void, crowd)
        self.categories = np.asarray(sorted(self.things + self.stuffs), np.int64)
        self.reset()

    def reset(self):
        c = len(self.categories)
        self.rows = {k: np.zeros((0, c), np.float64 if k == "iou_sum" else np.int64) for k in _KEYS}
        return self

    def _config(self):
        return (self.things, self.stuffs, self.void, self.crowd)

    def update(self, input, target):
        """Count one batch of panoptic maps ``(N, 2, *spatial)``; returns ``self``."""
        c = panoptic_counts(input, target, things=self.things, stuffs=self.stuffs, void=self.void,
                            crowd=self.crowd)
        for k in _KEYS:
            self.rows[k] = np.concatenate([self.rows[k], c[k]])
        return self

    def merge(self, other: "PanopticState"):
        """Add another state's images (same things, stuffs, void and crowd); returns ``self``."""
        if not isinstance(other, PanopticState):
            raise TypeError(f"other must be a PanopticState, got {type(other).__name__}")
        if other._config() != self._config():
            raise ValueError(f"other counts with another setup {other._config()} than {self._config()}")
        for k in _KEYS:
            self.rows[k] = np.concatenate([self.rows[k], other.rows[k]])
        return self

    def sync(self, process_group=None):
        """Gather every process's rows (rank order) when ``torch.distributed`` is initialised; returns ``self``."""
        import torch.distributed as dist
        if not (dist.is_available() and dist.is_initialized()):
            return self
        gathered = [None] * dist.get_world_size(process_group)
        dist.all_gather_object(gathered, {k: v.tolist() for k, v in self.rows.items()}, group=process_group)
        c = len(self.categories)
        for k in _KEYS:
            dtype = np.float64 if k == "iou_sum" else np.int64
            self.rows[k] = np.concatenate([np.asarray(g[k], dtype).reshape(-1, c) for g in gathered])
        return self

    @property
    def images(self) -> int:
        return int(self.rows["tp"].shape[0])

    def compute(self, aggregate="dataset", average="macro"):
        """PQ, SQ, RQ as :func:`segmath.panoptic_quality` with the same options (NumPy values)."""
        counts = {"categories": self.categories, **self.rows}
        return quality_from_counts(counts, self.things, aggregate, average)
