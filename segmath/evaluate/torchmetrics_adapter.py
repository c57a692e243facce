"""segmath's metrics as ``torchmetrics.Metric`` objects (optional: torchmetrics is imported only here).

So that Lightning's ``self.log("val/miou", metric)``, ``MetricCollection``, ``merge_state``
and torchmetrics' own distributed sync work with segmath's definitions:

* :class:`ConfusionMetric` — any count metric (``mean_iou``, ``dice_score``, ``mcc``, …)
  from three states: the dataset confusion matrix ``(C, C)`` (``dist_reduce_fx="sum"``),
  the per-image ``tp, fp, fn`` rows (``"cat"``) and the images' ids (``"cat"``).  The
  value is ``segmath.<metric>``'s counts form on them, exactly what
  :class:`segmath.metrics.ConfusionState` computes.
* :class:`SurfaceMetric` — a surface metric (``hd95``, ``assd``, ``nsd``, …) from the
  per-image, per-class values (``"cat"``) and ids.

**Duplicated images.**  ``update(input, target, ids=...)`` names each image.  An image seen
twice (``DistributedSampler`` pads the last batch by repeating images) is counted once
in every per-image result.  The dataset matrix, a sum, cannot drop a repeat after the
fact; when ids repeat, ``aggregate="dataset"`` is pooled from the de-duplicated per-image
``tp, fp, fn`` instead, which serves every metric that needs no off-diagonal entries of
the matrix (all but weighted kappa and the confusion matrix itself, which then raise).

``full_state_update=False``: ``forward`` computes the batch value from a fresh state, so
each batch costs one update.
"""
from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from .. import primitives as P
from ..metrics.confusion import counts as _counts
from ..metrics.confusion import counts_from_matrix, counts_from_tp_fp_fn, counts_metrics
from .surface_state import surface_metrics

__all__ = ["ConfusionMetric", "SurfaceMetric"]


def _id_tensor(ids, n, device):
    if ids is None:
        return torch.full((n,), -1, dtype=torch.int64, device=device)          # -1: anonymous, never merged
    ids = torch.as_tensor(ids, dtype=torch.int64, device=device).reshape(-1)
    if ids.numel() != n:
        raise ValueError(f"ids must name the {n} images of the batch; got {ids.numel()}")
    if bool((ids < 0).any()):
        raise ValueError("ids must be non-negative integers (dataset indices)")
    return ids


def _first_occurrence(ids):
    """Mask keeping the first of each repeated non-negative id (anonymous -1 ids are all kept)."""
    keep = torch.ones_like(ids, dtype=torch.bool)
    named = torch.nonzero(ids >= 0).reshape(-1)
    if named.numel():
        uniq, inverse = torch.unique(ids[named], return_inverse=True)
        first = torch.full((uniq.numel(),), ids.numel(), dtype=torch.int64, device=ids.device)
        first = first.scatter_reduce(0, inverse, named, reduce="amin")
        keep[named] = False
        keep[first] = True
    return keep


class ConfusionMetric(Metric):
    """A segmath count metric as a ``torchmetrics.Metric``.

    Args:
        metric: catalogue id of a count metric (``segmath.metrics.confusion.counts_metrics()``).
        num_classes, ignore_index, from_logits, threshold: as in the segmath function.
        **options: the metric's options (``aggregate``, ``average``, ``empty``, …).
    """
    full_state_update = False
    is_differentiable = False
    higher_is_better = None

    def __init__(self, metric="mean_iou", *, num_classes, ignore_index=None, from_logits=True, threshold=0.5,
                 metric_kwargs=None, **options):
        super().__init__(**(metric_kwargs or {}))
        known = counts_metrics()
        if metric not in known:
            raise ValueError(f"metric must be one of {', '.join(sorted(known))}; got {metric!r}")
        self.metric, self.form, self.options = metric, known[metric].from_counts, options
        self.inputs = {"num_classes": num_classes, "ignore_index": ignore_index, "from_logits": from_logits,
                       "threshold": threshold}
        c = 2 if num_classes is None else num_classes
        self.add_state("matrix", torch.zeros((c, c), dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("rows", [], dist_reduce_fx="cat")
        self.add_state("ids", [], dist_reduce_fx="cat")

    def update(self, input, target, ids=None):
        c = _counts(input, target, **self.inputs)
        if c.matrix.shape[-1] != self.matrix.shape[-1]:
            raise ValueError(f"the batch has {c.matrix.shape[-1]} classes; the metric was made for "
                             f"{self.matrix.shape[-1]}")
        self._dtype = c.dtype                 # the metric's dtype follows the input's, as in segmath
        self.matrix += c.matrix.sum(dim=0).to(self.matrix.device)
        self.rows.append(torch.stack([c.tp, c.fp, c.fn], dim=1))
        self.ids.append(_id_tensor(ids, c.tp.shape[0], c.tp.device))

    def compute(self):
        dtype = getattr(self, "_dtype", torch.get_default_dtype())
        aggregate = self.options.get("aggregate", "image")
        rows, ids = dim_zero_cat(self.rows), dim_zero_cat(self.ids)
        keep = _first_occurrence(ids)
        rows = rows[keep]
        xp = P.namespace(rows)
        if aggregate == "dataset" and bool(keep.all()):
            counts = counts_from_matrix(xp, self.matrix[None], dtype)
        else:
            counts = counts_from_tp_fp_fn(xp, rows[:, 0], rows[:, 1], rows[:, 2], dtype)
            if aggregate == "dataset":
                counts = counts.pooled()
        return self.form(counts, **self.options)


class SurfaceMetric(Metric):
    """A segmath surface metric (``hd95``, ``assd``, ``nsd``, …) as a ``torchmetrics.Metric``.

    ``compute`` returns the mean over every (image, class) value that is not NaN (as the
    segmath function with ``reduction="mean"``), or the per-image table with
    ``reduction="none"``.
    """
    full_state_update = False
    is_differentiable = False
    higher_is_better = None

    def __init__(self, metric="hd95", *, num_classes=None, reduction="mean", metric_kwargs=None, **options):
        super().__init__(**(metric_kwargs or {}))
        if metric not in surface_metrics():
            raise ValueError(f"metric must be one of {', '.join(surface_metrics())}; got {metric!r}")
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")
        import segmath
        self.fn, self.reduction = segmath.get(metric).fn, reduction
        self.options = {"num_classes": num_classes, **options}
        self.add_state("values", [], dist_reduce_fx="cat")
        self.add_state("ids", [], dist_reduce_fx="cat")

    def update(self, input, target, ids=None, spacing=None):
        kw = dict(self.options) if spacing is None else {**self.options, "spacing": spacing}
        value = torch.as_tensor(self.fn(input, target, reduction="none", **kw), dtype=torch.float64)
        self.values.append(value)
        self.ids.append(_id_tensor(ids, value.shape[0], value.device))

    def compute(self):
        values = dim_zero_cat(self.values)
        values = values[_first_occurrence(dim_zero_cat(self.ids))]
        if self.reduction == "none":
            return values
        keep = ~torch.isnan(values)
        return values[keep].sum() / keep.sum()          # NaN when nothing is left: 0/0
