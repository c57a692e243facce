"""Post-processing of segmentation outputs: total-variation denoising and the dense CRF."""
from . import crf, tv
from .crf import dense_crf
from .tv import tv_denoise

__all__ = ["dense_crf", "tv_denoise"]
