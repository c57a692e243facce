"""Overlap, confusion and calibration metrics.

All count metrics share one sufficient statistic, the per-image confusion matrix
(:mod:`.confusion`), and one set of conventions for undefined values, class averaging
and image aggregation (:mod:`.average`).  :class:`ConfusionState` streams them over
batches and processes.  Calibration metrics (:mod:`.calibration`) work on probabilities.
"""
from .agreement import *  # noqa: F401,F403
from .agreement import __all__ as _agreement
from .calibration import *  # noqa: F401,F403
from .calibration import __all__ as _calibration
from .confusion import *  # noqa: F401,F403
from .confusion import __all__ as _confusion
from .overlap import *  # noqa: F401,F403
from .overlap import __all__ as _overlap
from .rates import *  # noqa: F401,F403
from .rates import __all__ as _rates
from .state import ConfusionState  # noqa: F401

__all__ = [*_confusion, *_overlap, *_rates, *_agreement, *_calibration, "ConfusionState"]
