"""Losses: distribution-based, region-based, Lovász and compound.  (Boundary losses: segmath.distance.)"""
from .compound import bce_dice, combo, exp_log
from .distribution import (balanced_cross_entropy, binary_cross_entropy, cross_entropy, focal,
                           sensitivity_specificity, topk_cross_entropy, weighted_cross_entropy)
from .lovasz import lovasz_hinge, lovasz_softmax
from .region import (dice, dice_semimetric, focal_tversky, generalized_dice, jaccard, jaccard_metric,
                     log_cosh_dice, log_dice, log_jaccard, mcc_loss, squared_dice, tversky)

__all__ = ["cross_entropy", "binary_cross_entropy", "weighted_cross_entropy", "balanced_cross_entropy", "focal",
           "topk_cross_entropy", "sensitivity_specificity", "dice", "log_dice", "squared_dice", "log_cosh_dice",
           "jaccard", "log_jaccard", "tversky", "focal_tversky", "generalized_dice", "jaccard_metric",
           "dice_semimetric", "mcc_loss", "lovasz_hinge", "lovasz_softmax", "bce_dice", "combo", "exp_log"]
