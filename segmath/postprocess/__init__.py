"""Post-processing of segmentation outputs: total-variation denoising and the dense CRF."""
from . import tv
from .tv import tv_denoise

__all__ = ["tv_denoise"]
