"""Post-processing of segmentation outputs: total-variation denoising and the dense CRF."""
from . import crf, potts, tv  # noqa: F401  (submodules, for segmath.postprocess.tv.chambolle_dual etc.)
from .crf import dense_crf
from .potts import tv_segment
from .tv import tv_denoise

__all__ = ["dense_crf", "tv_denoise", "tv_segment"]
