"""Overlap, confusion and calibration metrics.

All count metrics share one sufficient statistic, the per-image confusion matrix
(:mod:`.confusion`), and one set of conventions for undefined values, class averaging
and image aggregation (:mod:`.average`).  Each is one function of the counts, made public
by :func:`.confusion.counts_metric`; :class:`ConfusionState` streams the same functions
over batches and processes.  Calibration metrics (:mod:`.calibration`) work on probabilities.
"""
from .agreement import cohen_kappa, mcc
from .calibration import brier_score, expected_calibration_error
from .clinical import expected_cost, likelihood_ratio_positive, net_benefit, youden_index
from .confusion import confusion_matrix
from .overlap import dice_score, fbeta_score, fw_iou, iou, mean_iou, volume_difference
from .rates import balanced_accuracy, mean_accuracy, pixel_accuracy, precision, recall, specificity
from .state import ConfusionState

__all__ = ["confusion_matrix", "iou", "mean_iou", "fw_iou", "dice_score", "fbeta_score", "volume_difference",
           "precision", "recall", "specificity", "pixel_accuracy", "mean_accuracy", "balanced_accuracy",
           "mcc", "cohen_kappa", "youden_index", "likelihood_ratio_positive", "net_benefit", "expected_cost",
           "expected_calibration_error", "brier_score", "ConfusionState"]
