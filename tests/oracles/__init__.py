"""The tests' toolbox: independent references every test file may import (``from oracles import ...``).

- :mod:`oracles.arrays` — NumPy references: ``softmax``, ``sigmoid``, ``one_hot``, ``contour`` (inner contour of a mask).
- :mod:`oracles.cases` — shared synthetic cases (``make_case``) and scikit-learn views (``pooled``, ``per_image``).
- :mod:`oracles.smp` — ``smp_losses()``: segmentation-models-pytorch's losses without its model zoo.
- :mod:`oracles.monai_ref` — MONAI's ``losses``/``metrics`` modules and ``monai_softmax_loss``.
- :mod:`oracles.coco` — ``coco_eval``: pycocotools' COCOeval (segm) on segmath's instance format.
- :mod:`oracles.distributed` — ``run_ranks``: a function on several ranks of a real gloo group (forked processes).

Every third-party oracle here is pinned (requirements.txt, requirements-oracles.txt) and imported plainly:
if one is missing the tests fail loudly instead of skipping whole files.  The benchmarks import
``smp_losses`` from here too.
"""
import importlib

from .arrays import contour, one_hot, sigmoid, softmax
from .cases import make_case, per_image, pooled

# Third-party oracles load on first use, so a spawned worker that needs only ``make_case`` stays light.
_LAZY = {"monai_losses": "monai_ref", "monai_metrics": "monai_ref", "monai_softmax_loss": "monai_ref",
         "smp_losses": "smp"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["contour", "one_hot", "sigmoid", "softmax", "make_case", "per_image", "pooled",
           "monai_losses", "monai_metrics", "monai_softmax_loss", "smp_losses"]
