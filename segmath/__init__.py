"""segmath: the mathematics of image-segmentation losses and metrics.

Every loss and metric is written once against the array API and runs on NumPy
arrays and torch tensors (CPU/CUDA, autograd).  ``segmath.catalogue()`` lists them.
Submodules ``symbolic``, ``theory``, ``nn``, ``teaching`` (course material) and ``evaluate`` (folders of files) load on first use.
"""
import importlib

from . import examples  # noqa: F401
from .catalogue import Entry, catalogue, get  # noqa: F401
from .distance import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
from .postprocess import *  # noqa: F401,F403
from .validation import value_checks  # noqa: F401

__version__ = "0.1.0"

_LAZY = ("symbolic", "theory", "nn", "teaching", "evaluate")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'segmath' has no attribute {name!r}")
