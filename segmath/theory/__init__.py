"""Closed forms and ``verify_*`` checks behind the book's theorems.

Each ``verify_*(seed=0, ...)`` checks one statement of the book numerically, independently of the
code it is about where it can (brute force, ``scipy.optimize``, linear programming, exhaustive
enumeration, finite differences), and returns a :class:`Verification` that prints as a short report
(and as HTML in a notebook).  :data:`VERIFICATIONS` lists them with the statement id and chapter;
the test suite runs every one.

Example:
    >>> from segmath import theory
    >>> theory.verify_dice_jaccard_bijection().passed
    True
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from .closed_forms import (dice_from_jaccard, expected_focal_loss, f1_optimal_threshold, focal_minimiser,  # noqa: F401
                           jaccard_from_dice, jaccard_optimal_threshold, optimal_f1, optimal_f1_fixed_point,
                           optimal_jaccard,
                           weighted_ce_minimiser, weighted_ce_posterior, weighted_ce_threshold)
from .convex import (convex_closure, jaccard_set_loss, lovasz_extension, verify_jaccard_submodular,  # noqa: F401
                     verify_lovasz_convex_closure, verify_lovasz_softmax_vertices)
from .decision import (verify_brier_proper, verify_calibration_unbiased_volume, verify_ece_binning_bias,  # noqa: F401
                       verify_f1_threshold, verify_focal_bound, verify_focal_underconfident, verify_log_loss_proper,
                       verify_no_fixed_weight_dice_optimal, verify_plugin_vs_expected_f1,
                       verify_weighted_ce_threshold)
from .overlap import (verify_aggregation_changes_ranking, verify_dice_jaccard_bijection,  # noqa: F401
                      verify_dice_jaccard_bounds, verify_no_uniform_ce_weighting, verify_soft_dice_gradient_constant,
                      verify_soft_dice_hard_optimum, verify_soft_dice_jaccard_algebra, verify_squared_dice_gradient,
                      verify_tversky_bounds)
from .distance import (verify_boundary_loss_identity, verify_dt_hausdorff_convex_nested,  # noqa: F401
                       verify_dt_hausdorff_counterexample)
from .postprocess import (verify_chambolle_step, verify_coarea, verify_filtered_messages,  # noqa: F401
                          verify_mean_field_convergence, verify_mean_field_update, verify_rof_disk,
                          verify_thresholding_theorem)
from .instances import (verify_discriminative_geometry, verify_fathi_similarity,  # noqa: F401
                        verify_matching_uniqueness, verify_pq_sq_rq, verify_spatial_embedding_ball)
from .result import Verification, VerificationError  # noqa: F401
from .soft_labels import verify_dml_semimetric, verify_jml_metric, verify_jml_soft_label_optimum  # noqa: F401
from .imbalance import (verify_balanced_gaussian_dice, verify_ece_bias_bound,  # noqa: F401
                        verify_label_shift_balanced_weights, verify_multiclass_dice_affine,
                        verify_soft_dice_hard_labels_topk, verify_soft_dice_volume_bias)
from .focal import (focal_posterior, verify_focal_inverse, verify_focal_tversky_transform,  # noqa: F401
                    verify_loose_statements, verify_temperature_scaling)


class Theorem(NamedTuple):
    """One verified statement: id (``"S8"``), book chapter, verify function name, the function, a title."""
    statement: str
    chapter: str
    name: str
    fn: Callable
    title: str


def _t(statement, chapter, fn, title):
    return Theorem(statement, chapter, fn.__name__, fn, title)


VERIFICATIONS = (
    _t("S1", "01_counts", verify_dice_jaccard_bijection, "Dice-Jaccard bijection"),
    _t("S2", "01_counts", verify_dice_jaccard_bounds, "Relative and absolute Dice-Jaccard approximation"),
    _t("S3", "01_counts", verify_soft_dice_jaccard_algebra, "Soft Dice and soft Jaccard obey the same algebra"),
    _t("S5", "01_counts", verify_tversky_bounds, "Tversky index: special cases and bounds"),
    _t("S7", "02_balanced", verify_log_loss_proper, "Log-loss is strictly proper"),
    _t("S7", "02_balanced", verify_brier_proper, "The Brier score is strictly proper"),
    _t("", "02_balanced", verify_ece_binning_bias, "Binned ECE is biased upward"),
    _t("S6", "03_imbalanced", verify_no_uniform_ce_weighting, "No weighting approximates Jaccard uniformly"),
    _t("S8", "03_imbalanced", verify_weighted_ce_threshold, "Weighted cross-entropy shifts the threshold"),
    _t("S9", "03_imbalanced", verify_f1_threshold, "F1 and Jaccard are optimised by thresholding at F*/2"),
    _t("S10", "03_imbalanced", verify_no_fixed_weight_dice_optimal, "No fixed class weight is Dice-optimal"),
    _t("S11", "03_imbalanced", verify_plugin_vs_expected_f1, "Plug-in vs expected-F1 (EUM vs DTA)"),
    _t("S13", "04_overlap", verify_calibration_unbiased_volume, "Calibration gives unbiased volume"),
    _t("S14", "04_overlap", verify_soft_dice_hard_optimum, "Soft Dice against soft targets has a hard optimum"),
    _t("S15", "04_overlap", verify_soft_dice_gradient_constant, "Soft Dice gradients are constant per class"),
    _t("S15", "04_overlap", verify_squared_dice_gradient, "Gradient of the V-Net squared Dice"),
    _t("S12", "05_focal", verify_focal_underconfident, "Focal loss is calibrated but under-confident"),
    _t("S12", "05_focal", verify_focal_bound, "Mukhoti et al.'s focal-loss bound"),
    _t("S16", "06_lovasz", verify_jaccard_submodular, "The Jaccard loss is submodular"),
    _t("S17", "06_lovasz", verify_lovasz_convex_closure, "The Lovasz extension is the convex closure"),
    _t("S18", "06_lovasz", verify_lovasz_softmax_vertices, "Lovasz-Softmax at one-hot predictions"),
    _t("S19", "07_soft_labels", verify_jml_metric, "Jaccard metric losses are metrics"),
    _t("S20", "07_soft_labels", verify_dml_semimetric, "The Dice semimetric loss is only a semimetric"),
    _t("S21", "07_soft_labels", verify_jml_soft_label_optimum, "JML is soft-label compatible"),
    _t("S4", "01_counts", verify_aggregation_changes_ranking, "Aggregation changes the ranking"),
    _t("S22", "09_boundaries", verify_boundary_loss_identity, "The boundary-loss identity"),
    _t("S24", "09_boundaries", verify_dt_hausdorff_convex_nested,
       "The distance-transform HD estimate is exact for nested convex shapes"),
    _t("S24", "09_boundaries", verify_dt_hausdorff_counterexample,
       "The distance-transform HD estimate is not a bound in general"),
    _t("", "02_balanced", verify_ece_bias_bound, "The binned-ECE bias bound and the one-pixel-per-bin case"),
    _t("", "03_imbalanced", verify_multiclass_dice_affine, "Mean Dice over classes: an affine, not reweighted, rule"),
    _t("", "03_imbalanced", verify_label_shift_balanced_weights, "Inverse-frequency weights need label shift"),
    _t("", "03_imbalanced", verify_balanced_gaussian_dice, "Error counting vs best Dice in the Gaussian model"),
    _t("", "04_overlap", verify_soft_dice_hard_labels_topk, "Soft Dice on hard labels: the top-k optimum"),
    _t("", "04_overlap", verify_soft_dice_volume_bias, "The volume bias of soft Dice"),
    _t("S12", "05_focal", verify_focal_inverse, "The focal minimiser is invertible"),
    _t("", "05_focal", verify_temperature_scaling, "Temperature scaling"),
    _t("", "05_focal", verify_focal_tversky_transform, "Focal Tversky is a transform of Tversky"),
    _t("", "05_focal", verify_loose_statements, "Loose statements made precise"),
    _t("S25", "10_instances", verify_pq_sq_rq, "PQ = SQ x RQ per category"),
    _t("S26", "10_instances", verify_matching_uniqueness, "Matching is unique above IoU 1/2, not at 1/2"),
    _t("S27", "11_embeddings", verify_discriminative_geometry, "Discriminative-loss geometry"),
    _t("S28", "11_embeddings", verify_spatial_embedding_ball, "Spatial embeddings: the ball and the learned sigma"),
    _t("S29", "11_embeddings", verify_fathi_similarity, "Fathi et al.'s pair similarity"),
    _t("S30", "12_crf", verify_mean_field_update, "The dense-CRF mean-field update; Potts 1-I acts as -I"),
    _t("S31", "12_crf", verify_mean_field_convergence, "Sequential mean field never increases the free energy"),
    _t("S32", "12_crf", verify_filtered_messages, "Filtered messages against brute force"),
    _t("S33", "13_variational", verify_rof_disk, "ROF on a disk"),
    _t("S34", "13_variational", verify_coarea, "The coarea formula for anisotropic TV"),
    _t("S35", "13_variational", verify_thresholding_theorem, "The thresholding theorem"),
    _t("S36", "13_variational", verify_chambolle_step, "Chambolle's projection algorithm converges"),
)


def verify_all(seed=0):
    """Run every verification; returns ``{name: Verification}``."""
    return {t.name: t.fn(seed=seed) for t in VERIFICATIONS}
