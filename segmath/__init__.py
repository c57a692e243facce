"""segmath: the mathematics of image-segmentation losses and metrics.

Every loss and metric is written once against the array API and runs on NumPy
arrays and torch tensors (CPU/CUDA, autograd).  ``segmath.catalogue()`` lists them.
Submodules ``symbolic``, ``theory``, ``nn``, ``teaching`` (course material) and ``evaluate`` (folders of files) load on first use.
"""
import importlib

from . import examples
from .catalogue import Entry, catalogue, get
from .distance import (assd, boundary, boundary_distance_mse, boundary_f1, boundary_iou, boundary_loss, cldice,
                       distance_penalized_ce, edt, hausdorff, hausdorff_dt, hd95, nsd, shape_aware,
                       signed_distance, structural_similarity, unet_weighted_ce)
from .losses import (balanced_cross_entropy, bce_dice, binary_cross_entropy, combo, cross_entropy, dice,
                     dice_semimetric, exp_log, focal, focal_tversky, generalized_dice, jaccard, jaccard_metric,
                     log_cosh_dice, log_dice, log_jaccard, lovasz_hinge, lovasz_softmax, mcc_loss,
                     sensitivity_specificity, squared_dice, topk_cross_entropy, tversky, weighted_cross_entropy)
from .metrics import (ConfusionState, balanced_accuracy, brier_score, cohen_kappa, confusion_matrix, dice_score,
                      expected_calibration_error, fbeta_score, fw_iou, iou, mcc, mean_accuracy, mean_iou,
                      pixel_accuracy, precision, recall, specificity, volume_difference)
from .instances import (discriminative, instance_ap, mask_classification, offset_uncertainty, pairwise_similarity,
                        panoptic_quality, push_pull_balls, push_pull_centroid, smooth_l1, spatial_embedding)
from .postprocess import dense_crf, tv_denoise, tv_segment
from .validation import value_checks

__all__ = ["Entry", "catalogue", "get", "value_checks", "examples", "cross_entropy", "binary_cross_entropy",
           "weighted_cross_entropy", "balanced_cross_entropy", "focal", "topk_cross_entropy",
           "sensitivity_specificity", "dice", "log_dice", "squared_dice", "log_cosh_dice", "jaccard", "log_jaccard",
           "tversky", "focal_tversky", "generalized_dice", "jaccard_metric", "dice_semimetric", "mcc_loss",
           "lovasz_hinge", "lovasz_softmax", "bce_dice", "combo", "exp_log", "edt", "signed_distance", "boundary",
           "hausdorff", "hd95", "assd", "nsd", "boundary_iou", "boundary_f1", "hausdorff_dt", "boundary_distance_mse",
           "boundary_loss", "distance_penalized_ce", "unet_weighted_ce", "shape_aware", "structural_similarity",
           "cldice", "confusion_matrix", "iou", "mean_iou", "fw_iou", "dice_score", "fbeta_score",
           "volume_difference", "precision", "recall", "specificity", "pixel_accuracy", "mean_accuracy",
           "balanced_accuracy", "mcc", "cohen_kappa", "expected_calibration_error", "brier_score", "ConfusionState",
           "dense_crf", "tv_denoise", "tv_segment",
           "panoptic_quality", "instance_ap", "discriminative", "push_pull_centroid", "push_pull_balls",
           "pairwise_similarity", "smooth_l1", "spatial_embedding",
           "mask_classification", "offset_uncertainty"]

__version__ = "0.1.0"

_LAZY = ("symbolic", "theory", "nn", "teaching", "evaluate")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'segmath' has no attribute {name!r}")
