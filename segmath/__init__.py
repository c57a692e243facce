"""segmath: the mathematics of image-segmentation losses and metrics.

Every loss and metric is written once against the array API and runs on NumPy
arrays and torch tensors (CPU/CUDA, autograd).  ``segmath.catalogue()`` lists them.
"""
from .catalogue import catalogue, get, Entry  # noqa: F401
from .losses.distribution import cross_entropy  # noqa: F401
from .losses.region import dice  # noqa: F401

__version__ = "0.1.0"
