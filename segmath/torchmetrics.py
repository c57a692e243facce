"""``segmath.torchmetrics``: segmath's metrics as ``torchmetrics.Metric`` objects (imports torchmetrics).

The adapter lives in :mod:`segmath.evaluate.torchmetrics_adapter`; this module is its
short public name.  Nothing else in segmath imports torchmetrics.
"""
from .evaluate.torchmetrics_adapter import ConfusionMetric, SurfaceMetric

__all__ = ["ConfusionMetric", "SurfaceMetric"]
