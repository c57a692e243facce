"""Instances and panoptic segmentation: matching, panoptic quality, mask AP (and the conventions in
:mod:`segmath.instances.inputs`)."""
from . import ap, cluster, inputs, losses, matching, offsets, panoptic, set_loss, state  # noqa: F401 (submodules)
from .ap import instance_ap
from .cluster import cluster_embeddings, cluster_spatial_embeddings
from .losses import (discriminative, pairwise_similarity, push_pull_balls, push_pull_centroid, smooth_l1,
                     spatial_embedding)
from .matching import Matching, assign, detection_f1, instance_dice, match_instances, overlap_table
from .offsets import offset_uncertainty
from .set_loss import mask_classification
from .panoptic import panoptic_counts, panoptic_quality, quality_from_counts
from .state import PanopticState

__all__ = ["discriminative", "push_pull_centroid", "push_pull_balls", "pairwise_similarity", "smooth_l1", "spatial_embedding", "mask_classification", "offset_uncertainty", "instance_ap",
           "panoptic_quality", "panoptic_counts", "quality_from_counts", "PanopticState", "match_instances",
           "assign", "overlap_table", "Matching", "instance_dice", "detection_f1", "cluster_embeddings",
           "cluster_spatial_embeddings"]
