"""What to compute: the metrics (with their options), the classes, and how empty and missing cases score.

A :class:`Plan` is built once, validated, and shipped (pickled) to every worker process
or Dask worker; it holds catalogue ids, never functions, so it pickles anywhere.

**Classes.**  Each scored class is a set of labels: a single label (``labels``) or a
*region*, a union of labels as nnU-Net's regions (``regions``: BraTS's whole tumour is
``{1, 2, 3}``).  A class is scored as the binary problem "in the set" against "not in
the set", so every metric of the catalogue that takes hard labels gives one value per
case and class, and overlapping regions are no problem.

**Metrics** are catalogue ids (or the aliases in :data:`ALIASES`), called through
``segmath.get(id).fn`` with the classes of one case stacked on the image axis: one call
per metric and case.
"""
from __future__ import annotations

import ast
import inspect
import math
from dataclasses import dataclass, field

import numpy as np

from .errors import UsageError

#: short names accepted by ``--metrics`` (``dice`` and ``jaccard`` are loss ids in the catalogue)
ALIASES = {"dice": "dice_score", "f1": "dice_score", "jaccard": "iou", "hd": "hausdorff",
           "hd100": "hausdorff", "kappa": "cohen_kappa", "fbeta": "fbeta_score"}

#: options the evaluation sets itself; a user option may not override them
RESERVED = ("num_classes", "average", "aggregate", "reduction", "ignore_index", "spacing",
            "from_logits", "threshold")

#: value a missing prediction scores under ``missing="worst"`` (Metrics Reloaded's convention).
#: "diagonal": the largest distance inside the reference image, in physical units (the
#: value segmath's surface metrics give when one mask is empty, ``empty="diagonal"``).
#: "worst prediction": a value that depends on the reference (and the metric's options), so the
#: metric is scored on the worst prediction for that reference: per pixel the label of highest
#: cost (``expected_cost``; the complement of the reference under 0-1 costs), the complement of the
#: reference for ``likelihood_ratio_positive`` (TP = 0: LR+ = 0) and ``net_benefit`` (TP = 0 and
#: every negative a false positive: the least NB the reference allows).
WORST = {
    **dict.fromkeys(("dice_score", "iou", "fbeta_score", "precision", "recall", "specificity",
                     "pixel_accuracy", "mean_accuracy", "balanced_accuracy", "mean_iou", "fw_iou",
                     "nsd", "boundary_iou", "boundary_f1", "cldice_score"), 0.0),
    "mcc": -1.0, "cohen_kappa": -1.0, "youden_index": -1.0,
    **dict.fromkeys(("hausdorff", "hd95", "assd"), "diagonal"),
    **dict.fromkeys(("likelihood_ratio_positive", "net_benefit", "expected_cost"), "worst prediction"),
}

OVERLAP_EMPTY = ("skip", "zero", "one")
ONE_EMPTY = ("diagonal", "inf", "nan")
MISSING = ("error", "worst")
IGNORE_SENTINEL = -1          # the ignore value in the binary maps handed to the metrics


@dataclass(frozen=True)
class MetricSpec:
    """One output column: its name, the catalogue id and the keyword arguments of the call."""
    column: str
    id: str
    kwargs: tuple                 # sorted (key, value) pairs: hashable and picklable
    uses_spacing: bool
    ignore: str                   # "index": the metric takes ignore_index; "mask": masked before the call

    def call_kwargs(self, spacing, ignore_index):
        kw = dict(self.kwargs)
        if self.uses_spacing and spacing is not None:
            kw["spacing"] = spacing
        if ignore_index is not None and self.ignore == "index":
            kw["ignore_index"] = IGNORE_SENTINEL
        return kw


@dataclass(frozen=True)
class Plan:
    metrics: tuple                            # MetricSpec, one per column
    classes: tuple = ()                       # (name, labels) pairs; empty until labels are known
    labels_given: bool = False                # labels outside the classes are then a data error
    ignore_index: int | None = None
    spacing: tuple | None = None              # overrides the files' spacing
    missing: str = "error"
    max_elements: int = 2 ** 30
    options: dict = field(default_factory=dict, compare=False)   # what was asked, for the summary

    @property
    def columns(self):
        return tuple(m.column for m in self.metrics)

    @property
    def class_names(self):
        return tuple(name for name, _ in self.classes)

    def allowed_labels(self):
        """Labels a file may hold: background 0 and every label of a class."""
        return {0}.union(*[set(labels) for _, labels in self.classes])

    def with_labels(self, labels):
        """The plan with one class per label (when ``labels`` was not given and was discovered)."""
        classes = tuple((str(v), (int(v),)) for v in sorted(labels))
        return Plan(self.metrics, classes, False, self.ignore_index, self.spacing, self.missing,
                    self.max_elements, self.options)


# -- building a plan ---------------------------------------------------------------

def make_plan(metrics=("dice", "hd95"), *, labels=None, regions=None, ignore_index=None, spacing=None,
              empty="skip", both_empty="nan", one_empty="diagonal", options=None, missing="error",
              max_elements=2 ** 30) -> Plan:
    """Validate every choice of an evaluation and return its :class:`Plan` (``UsageError`` if wrong)."""
    if isinstance(metrics, str):
        metrics = [m for m in metrics.split(",") if m.strip()]
    if not metrics:
        raise UsageError("metrics: give at least one metric")
    _choice(empty, "empty", OVERLAP_EMPTY)
    _choice(one_empty, "one_empty", ONE_EMPTY)
    _choice(missing, "missing", MISSING)
    if both_empty != "nan" and (isinstance(both_empty, bool) or not isinstance(both_empty, (int, float))):
        raise UsageError(f"both_empty must be 'nan' or a number, got {both_empty!r}")
    if isinstance(both_empty, float) and math.isnan(both_empty):
        both_empty = "nan"
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, int)):
        raise UsageError(f"ignore_index must be an integer, got {ignore_index!r}")
    options = parse_options(options or {})
    columns = [m.strip() for m in metrics]
    if len(set(columns)) != len(columns):
        raise UsageError(f"metrics: a metric is named twice in {','.join(columns)}")
    unknown = set(options) - set(columns)
    if unknown:
        raise UsageError(f"option for {', '.join(sorted(unknown))}, which is not in metrics "
                         f"({','.join(columns)})")
    defaults = {"empty": empty, "both_empty": both_empty, "one_empty": one_empty}
    specs = tuple(_metric_spec(c, options.get(c, {}), defaults) for c in columns)
    if missing == "worst":
        lacking = [s.column for s in specs if s.id not in WORST]
        if lacking:
            raise UsageError(f"missing='worst': no worst value is defined for {', '.join(lacking)}; "
                             f"use missing='error' (known: {', '.join(sorted(WORST))})")
    classes = make_classes(labels, regions, ignore_index)
    spacing = _spacing(spacing)
    asked = {"metrics": columns, "ignore_index": ignore_index, "spacing": spacing, "missing": missing,
             "empty": empty, "both_empty": both_empty, "one_empty": one_empty,
             "options": {c: dict(o) for c, o in options.items()}}
    return Plan(specs, classes, bool(classes), ignore_index, spacing, missing, int(max_elements), asked)


def _choice(value, name, choices):
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _spacing(spacing):
    if spacing is None:
        return None
    if isinstance(spacing, (int, float)):
        spacing = (spacing,)
    try:
        spacing = tuple(float(s) for s in spacing)
    except (TypeError, ValueError):
        raise UsageError(f"spacing must be numbers, got {spacing!r}") from None
    if not spacing or not all(0 < s < math.inf for s in spacing):
        raise UsageError(f"spacing must be positive finite numbers, got {spacing}")
    return spacing


def usable_metrics():
    """Catalogue ids of the metrics that give one value per case and class from label maps."""
    import segmath
    return sorted(e.id for e in segmath.catalogue("metric") if _probe(e.id, _base_kwargs(e.id, {}))[0])


def _base_kwargs(id, defaults):
    import segmath
    params = inspect.signature(segmath.get(id).fn).parameters
    kw = {"num_classes": 2}
    if "average" in params:
        kw["average"] = "binary"
    if "aggregate" in params:
        kw["aggregate"] = "none"
    if "reduction" in params:
        kw["reduction"] = "none"
    if "both_empty" in params:                    # surface family: `empty` is the one-empty distance
        kw["both_empty"] = defaults.get("both_empty", "nan")
        if "empty" in params:
            kw["empty"] = defaults.get("one_empty", "diagonal")
    elif "empty" in params:
        kw["empty"] = defaults.get("empty", "skip")
    return kw


def _resolve(column):
    import segmath
    id = ALIASES.get(column, column)
    try:
        entry = segmath.get(id)
    except KeyError:
        entry = None
    if entry is None or entry.kind != "metric":
        raise UsageError(f"unknown metric {column!r}; known: {', '.join(usable_metrics())} "
                         f"(aliases: {', '.join(f'{a}={t}' for a, t in sorted(ALIASES.items()))})")
    return entry


def _metric_spec(column, opts, defaults) -> MetricSpec:
    entry = _resolve(column)
    params = inspect.signature(entry.fn).parameters
    kw = _base_kwargs(entry.id, defaults)
    for key, value in opts.items():
        if key in RESERVED:
            raise UsageError(f"option {column}.{key} is set by the evaluation itself and cannot be given")
        if key not in params:
            raise UsageError(f"option {column}.{key}: {entry.id} has no parameter {key!r} "
                             f"(it has: {', '.join(p for p in params if p not in RESERVED + ('input', 'target'))})")
        kw[key] = value
    ok, why = _probe(entry.id, kw)
    if not ok:
        raise UsageError(f"metric {column!r} ({entry.id}) cannot score label maps per class here: {why}")
    return MetricSpec(column, entry.id, tuple(sorted(kw.items())), "spacing" in params,
                      "index" if "ignore_index" in params else "mask")


def _probe(id, kw):
    """Call the metric on a tiny stack of two binary cases: it must give one finite-or-NaN value each."""
    import segmath
    pred = np.zeros((2, 5, 6), np.int64)
    true = np.zeros((2, 5, 6), np.int64)
    pred[:, 1:3, 1:4] = 1
    true[:, 2:4, 1:4] = 1
    try:
        value = np.asarray(segmath.get(id).fn(pred, true, **kw), dtype=float)
    except (ValueError, TypeError) as err:
        return False, str(err)
    if value.shape not in ((2,), (2, 1)):
        return False, f"it returns shape {value.shape}, not one value per case"
    return True, ""


# -- options, labels, regions ------------------------------------------------------

def parse_options(options) -> dict:
    """``{"hd95": {"percentile": 99}}`` or strings ``"hd95.percentile=99"`` -> column -> {key: value}."""
    if isinstance(options, dict):
        return {str(c): dict(o) for c, o in options.items()}
    out: dict = {}
    for text in options:
        column, sep, rest = str(text).partition(".")
        key, eq, raw = rest.partition("=")
        if not (sep and eq and column and key):
            raise UsageError(f"option {text!r} must look like METRIC.NAME=VALUE (e.g. hd95.percentile=99)")
        out.setdefault(column, {})[key] = literal(raw)
    return out


def literal(raw: str):
    """A Python literal (number, tuple, True, None, 'text'), else the text itself."""
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def make_classes(labels, regions, ignore_index=None) -> tuple:
    """``labels`` (ints) and ``regions`` (name -> labels, or label tuples) -> (name, labels) pairs."""
    classes = []
    for v in labels or ():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise UsageError(f"labels must be integers, got {v!r}")
        classes.append((str(int(v)), (int(v),)))
    items = regions.items() if isinstance(regions, dict) else [(None, r) for r in (regions or ())]
    for name, members in items:
        members = tuple(int(m) for m in members)
        if not members or any(isinstance(m, bool) for m in members):
            raise UsageError(f"region {name or members!r} must list at least one integer label")
        classes.append((name or "+".join(map(str, members)), members))
    names = [n for n, _ in classes]
    if len(set(names)) != len(names):
        raise UsageError(f"labels/regions: a class is named twice in {names}")
    if ignore_index is not None and any(ignore_index in m for _, m in classes):
        raise UsageError(f"ignore_index {ignore_index} is also one of the labels to score")
    return tuple(classes)
