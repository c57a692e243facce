"""Evaluating a dataset: label-map files in, a per-case table and a summary out.

``segmath evaluate PRED REF`` (or ``python -m segmath evaluate``) and
:func:`evaluate_folder` score a folder of predictions against a folder of references with
any catalogue metric that takes label maps, per case and per class (labels or nnU-Net
regions), on one process, on worker processes or on a Dask cluster.  The pieces:

* :mod:`.io` reads PNG, TIFF, NPY/NPZ and NIfTI safely and pairs files by name;
* :mod:`.plan` validates what to compute (:class:`Plan`);
* :mod:`.work` is the per-case work (:func:`score_case`), the same everywhere;
* :mod:`.reduce` the mergeable :class:`CaseTable` and the summary statistics;
* :mod:`.run` the mappers and :func:`evaluate_folder`; :mod:`.cli` the command line;
* :mod:`.surface_state` :class:`SurfaceState`, streaming per-case surface metrics for training loops.
"""
from .errors import DataError, Problem, UsageError
from .io import Case, LabelMap, pair_cases, read_label_map
from .plan import Plan, make_plan, usable_metrics
from .reduce import CaseTable, statistics
from .run import Report, evaluate_folder
from .surface_state import SurfaceState, surface_metrics
from .work import CaseResult, scan_case, score_arrays, score_case

__all__ = ["evaluate_folder", "Report", "CaseTable", "CaseResult", "Case", "LabelMap", "Plan", "make_plan",
           "score_case", "score_arrays", "scan_case", "read_label_map", "pair_cases", "statistics",
           "usable_metrics", "SurfaceState", "surface_metrics", "DataError", "UsageError", "Problem"]
