"""The per-case work: read one pair of files, check it, score every class with every metric.

The same two functions run in the calling process, in worker processes and on Dask
workers: :func:`score_case` (one reference and its prediction -> a :class:`CaseResult`)
and :func:`scan_case` (the labels a pair holds, when ``labels`` were not given).  Neither
raises for bad data: a bad file becomes a :class:`~segmath.evaluate.errors.Problem` in the
result, so one run collects every bad file.

**Ignored pixels** (``ignore_index`` in the reference) take no part in any metric.  Metrics
with an ``ignore_index`` option get it; the surface metrics have none, so there the ignored
pixels are set to background in *both* masks before the call (as nnU-Net does for Dice):
the metric then sees neither mask there.  That can create surface points at the border of
an ignored region; it is the documented approximation for distances.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import FileProblem, Problem
from .io import Case, read_label_map
from .plan import IGNORE_SENTINEL, WORST, Plan


@dataclass
class CaseResult:
    """Scores of one case: ``values[k][j]`` is metric ``j`` on class ``k`` (floats; NaN allowed)."""
    case: str
    values: list = field(default_factory=list)
    problem: Problem | None = None
    missing: str | None = None          # the reference whose prediction was missing (scored worst)
    labels: frozenset = frozenset()     # scan_case only


def score_case(case: Case, plan: Plan) -> CaseResult:
    """Read and score one case (see the module docstring); never raises for bad data."""
    try:
        ref = read_label_map(case.ref, plan.max_elements)
        if case.pred is None:
            return _missing(case, ref, plan)
        pred = read_label_map(case.pred, plan.max_elements)
        spacing = _check_pair(case, pred, ref, plan)
        bad = [(m.path, f"{role} {why}") for m, role in ((pred, "prediction"), (ref, "reference"))
               if (why := _label_problem(m, plan, is_ref=role == "reference"))]
        if bad:
            allowed = ", ".join(map(str, sorted(plan.allowed_labels())))
            return CaseResult(case.id, problem=Problem(
                case.id, tuple(p for p, _ in bad), f"{'; '.join(w for _, w in bad)} (labels to evaluate: {allowed})"))
        return CaseResult(case.id, score_arrays(pred.array, ref.array, plan, spacing))
    except FileProblem as err:
        return CaseResult(case.id, problem=Problem(case.id, (err.path,), err.message))
    except (ValueError, TypeError) as err:              # a metric refusing this pair's data
        files = (case.pred, case.ref)
        return CaseResult(case.id, problem=Problem(case.id, files, f"cannot be scored: {err}"))


def scan_case(case: Case, plan: Plan) -> CaseResult:
    """The labels (other than 0 and ``ignore_index``) found in the pair's files."""
    found = set()
    try:
        for path in (case.ref, case.pred):
            if path is not None:
                found.update(present_labels(read_label_map(path, plan.max_elements).array))
    except FileProblem as err:
        return CaseResult(case.id, problem=Problem(case.id, (err.path,), err.message))
    found.discard(0)
    found.discard(plan.ignore_index)
    return CaseResult(case.id, labels=frozenset(int(v) for v in found))


def score_arrays(pred: np.ndarray, ref: np.ndarray, plan: Plan, spacing=None) -> list:
    """Scores of one case from its label maps: a list, per class, of one float per metric."""
    pred_bin = np.stack([np.isin(pred, labels) for _, labels in plan.classes]).astype(np.int64)
    return _score_binary(pred_bin, _binary_reference(ref, plan), plan, plan.metrics, spacing)


def _binary_reference(ref, plan):
    ref_bin = np.stack([np.isin(ref, labels) for _, labels in plan.classes]).astype(np.int64)
    ignored = None if plan.ignore_index is None else ref == plan.ignore_index
    return ref_bin, ignored


def _score_binary(pred_bin, reference, plan, specs, spacing) -> list:
    """``pred_bin`` and the reference's one binary map per class -> per class, one float per metric of ``specs``."""
    import segmath
    ref_bin, ignored = reference
    columns = []
    for spec in specs:
        p, r = pred_bin, ref_bin
        if ignored is not None:
            if spec.ignore == "index":
                r = np.where(ignored, IGNORE_SENTINEL, ref_bin)
            else:
                p, r = np.where(ignored, 0, pred_bin), np.where(ignored, 0, ref_bin)
        # floating-point warnings inside a metric (inf * 0 in an unused branch) are not the user's
        # business here: the values themselves, NaN included, go to the table
        with np.errstate(all="ignore"):
            value = segmath.get(spec.id).fn(p, r, **spec.call_kwargs(spacing, plan.ignore_index))
        columns.append(np.asarray(value, dtype=np.float64).reshape(len(plan.classes)))
    return [[float(col[k]) for col in columns] for k in range(len(plan.classes))]


def present_labels(array) -> list:
    """The distinct values of an integer array, sorted (a histogram when the range is small: 10x faster)."""
    lo, hi = int(array.min()), int(array.max())
    if lo >= 0 and hi < 1 << 16:
        return np.flatnonzero(np.bincount(array.ravel(), minlength=hi + 1)).tolist()
    return np.unique(array).tolist()


def worst_values(plan: Plan, ref: np.ndarray, spacing=None) -> list:
    """The worst value of every metric, per class, for reference ``ref`` (``missing="worst"``; see ``WORST``)."""
    spacing = spacing or (1.0,) * ref.ndim
    diagonal = math.sqrt(sum(((n - 1) * s) ** 2 for n, s in zip(ref.shape, spacing)))
    rows = [[diagonal if WORST[m.id] == "diagonal" else math.nan if WORST[m.id] == "worst prediction"
             else float(WORST[m.id]) for m in plan.metrics] for _ in plan.classes]
    for j, spec in enumerate(plan.metrics):
        if WORST[spec.id] == "worst prediction":
            reference = _binary_reference(ref, plan)
            scored = _score_binary(_worst_prediction(spec, reference[0]), reference, plan, (spec,), spacing)
            for row, value in zip(rows, scored):
                row[j] = value[0]
    return rows


def _worst_prediction(spec, ref_bin):
    """Per pixel of the binary reference maps, the predicted label of highest cost (0-1 costs: the complement)."""
    costs = dict(spec.kwargs).get("costs")
    worst = np.array([1, 0]) if costs is None else np.argmax(np.asarray(costs, dtype=np.float64), axis=1)
    return worst[ref_bin]


def _missing(case, ref, plan):
    if plan.missing != "worst":
        return CaseResult(case.id, problem=Problem(case.id, (case.ref,), "has no prediction"))
    why = _label_problem(ref, plan, is_ref=True)
    if why:
        raise FileProblem(ref.path, f"{why} {sorted(plan.allowed_labels())}")
    spacing = plan.spacing or ref.spacing
    _check_spacing_length(spacing, ref)
    return CaseResult(case.id, worst_values(plan, ref.array, spacing), missing=case.ref)


def _check_pair(case, pred, ref, plan):
    """Same shape and, when both headers have one, the same spacing; returns the spacing to use."""
    if pred.array.shape != ref.array.shape:
        raise FileProblem(pred.path, f"shape {pred.array.shape} does not match the reference "
                                     f"{ref.path} of shape {ref.array.shape}")
    if plan.spacing is not None:
        spacing = plan.spacing
    else:
        if pred.spacing is not None and ref.spacing is not None and \
                not np.allclose(pred.spacing, ref.spacing, rtol=1e-5, atol=0):
            raise FileProblem(pred.path, f"spacing {pred.spacing} does not match the reference "
                                         f"{ref.path} spacing {ref.spacing}")
        spacing = ref.spacing if ref.spacing is not None else pred.spacing
    _check_spacing_length(spacing, ref)
    return spacing


def _check_spacing_length(spacing, ref):
    if spacing is not None and len(spacing) != ref.array.ndim:
        raise FileProblem(ref.path, f"spacing {tuple(spacing)} has {len(spacing)} entries for a "
                                    f"{ref.array.ndim}-D label map of shape {ref.array.shape}")


def _label_problem(m, plan, *, is_ref):
    """With classes fixed in advance, a label outside them is a data error (a wrong file or label set)."""
    if not plan.labels_given:
        return None
    allowed = plan.allowed_labels()
    if is_ref and plan.ignore_index is not None:
        allowed = allowed | {plan.ignore_index}
    bad = [v for v in present_labels(m.array) if v not in allowed]
    if bad:
        return f"holds label(s) {bad[:10]} outside the labels to evaluate"
    return None
