"""The reduction: per-case results -> one mergeable table -> the per-case CSV and the JSON summary.

:class:`CaseTable` is a mergeable state keyed by case id: ``add`` one result, ``merge``
two tables (from two processes, two Dask workers, two ranks), in any order and grouping,
and the rows come out sorted by case id, so every way of running gives the same CSV.
A case seen twice with the same values is kept once: that is what a distributed sampler's
padding produces (torch's ``DistributedSampler`` repeats cases to even out the ranks), and
counting it twice would bias every mean.  Two *different* results for one case are an error.

**Summary statistics** use the finite values only (NaN: an undefined value, e.g. both
masks empty under ``empty="skip"``; inf: a distance to an empty mask under
``one_empty="inf"``); ``count`` says how many there were, ``n`` how many rows.  ``std`` is
the population standard deviation (ddof = 0, as NumPy and MONAI's ``MetricsSaver``);
quartiles are NumPy's linear-interpolation percentiles.  ``overall`` pools every
(case, class) row; ``mean_of_class_means`` is nnU-Net's ``foreground_mean``.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

import numpy as np

from .work import CaseResult


@dataclass
class CaseTable:
    """Per-case, per-class scores of ``columns`` for ``classes``; mergeable and picklable."""
    columns: tuple
    classes: tuple
    values: dict = field(default_factory=dict)      # case -> [[float per column] per class]
    problems: list = field(default_factory=list)
    missing: list = field(default_factory=list)     # references scored with the worst value

    def add(self, result: CaseResult) -> "CaseTable":
        if result.problem is not None:
            self.problems.append(result.problem)
            return self
        self._put(result.case, result.values)
        if result.missing is not None and result.missing not in self.missing:
            self.missing.append(result.missing)
        return self

    def _put(self, case, values):
        values = [list(map(float, row)) for row in values]
        if len(values) != len(self.classes) or any(len(r) != len(self.columns) for r in values):
            raise ValueError(f"case {case!r}: expected {len(self.classes)} classes x {len(self.columns)} "
                             "metrics")
        old = self.values.get(case)
        if old is not None and not _same(old, values):
            raise ValueError(f"case {case!r} was scored twice with different results")
        self.values[case] = values

    def merge(self, other: "CaseTable") -> "CaseTable":
        """This table with ``other``'s rows added (in place; returns self)."""
        if (tuple(other.columns), tuple(other.classes)) != (tuple(self.columns), tuple(self.classes)):
            raise ValueError("cannot merge tables of different metrics or classes")
        for case, values in other.values.items():
            self._put(case, values)
        seen = {(p.case, p.message) for p in self.problems}
        self.problems += [p for p in other.problems if (p.case, p.message) not in seen]
        self.missing += [m for m in other.missing if m not in self.missing]
        return self

    def sync(self, process_group=None) -> "CaseTable":
        """Merge the tables of every rank of a ``torch.distributed`` group (a collective: call it on all ranks)."""
        import torch.distributed as dist
        gathered = [None] * dist.get_world_size(process_group)
        dist.all_gather_object(gathered, self, group=process_group)
        merged = CaseTable(self.columns, self.classes)
        for table in gathered:
            merged.merge(table)
        return merged

    # -- outputs ------------------------------------------------------------------

    def rows(self):
        """One dict per (case, class), sorted by case id then class order."""
        out = []
        for case in sorted(self.values):
            for name, row in zip(self.classes, self.values[case]):
                out.append({"case": case, "class": name, **dict(zip(self.columns, row))})
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("case", "class") + tuple(self.columns))
        for row in self.rows():
            writer.writerow([row["case"], row["class"]] + [_fmt(row[c]) for c in self.columns])
        return buf.getvalue()

    def summary(self) -> dict:
        cases = sorted(self.values)
        per_class = {}
        for k, name in enumerate(self.classes):
            per_class[name] = {c: statistics([self.values[case][k][j] for case in cases])
                               for j, c in enumerate(self.columns)}
        overall = {}
        for j, c in enumerate(self.columns):
            stats = statistics([self.values[case][k][j] for case in cases for k in range(len(self.classes))])
            means = [per_class[n][c]["mean"] for n in self.classes if per_class[n][c]["mean"] is not None]
            stats["mean_of_class_means"] = float(np.mean(means)) if means else None
            overall[c] = stats
        return {"cases": len(cases), "classes": list(self.classes), "metrics": list(self.columns),
                "per_class": per_class, "overall": overall, "missing_predictions": list(self.missing)}


def statistics(values) -> dict:
    """Mean, std, median, quartiles, min, max of the finite values; their ``count``; ``n`` values in all."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    stats = {"count": int(finite.size), "n": int(v.size), "nan": int(np.isnan(v).sum()),
             "inf": int(np.isinf(v).sum())}
    if finite.size == 0:
        return {**dict.fromkeys(("mean", "std", "median", "q1", "q3", "min", "max")), **stats}
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return {"mean": float(finite.mean()), "std": float(finite.std()), "median": float(median),
            "q1": float(q1), "q3": float(q3), "min": float(finite.min()), "max": float(finite.max()), **stats}


def summary_json(summary: dict) -> str:
    return json.dumps(summary, indent=2, allow_nan=False) + "\n"


def _fmt(x: float) -> str:
    # repr round-trips a float exactly; NaN and inf as "nan", "inf", "-inf" (read back by float())
    return repr(float(x)) if math.isfinite(x) else str(float(x))


def _same(a, b):
    return all(x == y or (math.isnan(x) and math.isnan(y)) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
