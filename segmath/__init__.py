"""segmath: the mathematics of image-segmentation losses and metrics.

Every loss and metric is written once against the array API and runs on NumPy
arrays and torch tensors (CPU/CUDA, autograd).  ``segmath.catalogue()`` lists them.
Submodules ``symbolic``, ``theory``, ``nn``, ``teaching`` (course material) and ``evaluate`` (folders of
files) load on first use.
"""
import importlib

from . import examples
from .catalogue import Entry, catalogue, get
# The library's families: each subpackage's __init__ names its functions once (import + __all__), and
# segmath re-exports that list, so a new loss is exported by its family alone.
from . import distance, losses, metrics
from .distance import *  # noqa: F403
from .losses import *  # noqa: F403
from .metrics import *  # noqa: F403
from .instances import (discriminative, instance_ap, mask_classification, offset_uncertainty, pairwise_similarity,
                        panoptic_quality, push_pull_balls, push_pull_centroid, smooth_l1, spatial_embedding)
from .postprocess import dense_crf, tv_denoise, tv_segment
from .validation import value_checks

__all__ = ["Entry", "catalogue", "get", "value_checks", "examples",
           *losses.__all__, *distance.__all__, *metrics.__all__,
           "dense_crf", "tv_denoise", "tv_segment",
           "discriminative", "instance_ap", "mask_classification", "offset_uncertainty", "pairwise_similarity",
           "panoptic_quality", "push_pull_balls", "push_pull_centroid", "smooth_l1", "spatial_embedding"]

__version__ = "0.1.0"

_LAZY = ("symbolic", "theory", "nn", "teaching", "evaluate")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'segmath' has no attribute {name!r}")
