"""Distance transforms, surface metrics and boundary-aware losses (chapter 09_boundaries)."""
from .boundary_metrics import boundary_f1, boundary_iou
from .losses import (boundary_distance_mse, boundary_loss, cldice, distance_penalized_ce, hausdorff_dt,
                     shape_aware, structural_similarity, unet_weighted_ce)
from .skeleton_metrics import cldice_score
from .surface import assd, hausdorff, hd95, nsd
from .transforms import boundary, edt, signed_distance

__all__ = ["edt", "signed_distance", "boundary", "hausdorff", "hd95", "assd", "nsd", "boundary_iou", "boundary_f1",
           "cldice_score",
           "hausdorff_dt", "boundary_distance_mse", "boundary_loss", "distance_penalized_ce", "unet_weighted_ce",
           "shape_aware", "structural_similarity", "cldice"]
