"""Running the per-case work: here, on worker processes, or on a Dask cluster; then the reduction.

All three map the same :func:`~segmath.evaluate.work.score_case` over the cases and fold
the results into one :class:`~segmath.evaluate.reduce.CaseTable`; only the mapping
differs.  Results are folded in as they arrive, and each holds a few numbers per class,
so memory is bounded by the cases in flight, not by the dataset.
"""
from __future__ import annotations

import functools
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from .errors import DataError, Problem, UsageError
from .io import pair_cases, write_atomically
from .plan import Plan, make_plan
from .reduce import CaseTable, summary_json
from .work import CaseResult, scan_case, score_case


@dataclass
class Report:
    """The outcome of an evaluation: the table, its rows and summary, and what was odd."""
    table: CaseTable
    plan: Plan
    extra_predictions: list

    @property
    def rows(self):
        return self.table.rows()

    @property
    def summary(self):
        return {**self.table.summary(), "extra_predictions": list(self.extra_predictions),
                "settings": self.plan.options}

    @property
    def missing(self):
        return list(self.table.missing)

    def csv(self) -> str:
        return self.table.to_csv()

    def write(self, csv_path=None, json_path=None):
        """Write the per-case CSV and/or the JSON summary atomically (all or nothing)."""
        outputs = {}
        if csv_path is not None:
            outputs[csv_path] = self.csv()
        if json_path is not None:
            outputs[json_path] = summary_json(self.summary)
        write_atomically(outputs)


def evaluate_folder(pred, ref, metrics=("dice", "hd95"), *, labels=None, regions=None, ignore_index=None,
                    spacing=None, empty="skip", both_empty="nan", one_empty="diagonal", options=None,
                    missing="error", jobs=1, client=None, scheduler=None, progress=False,
                    max_elements=2 ** 30) -> Report:
    """Score every reference in ``ref`` against the prediction of the same name in ``pred``.

    ``pred`` and ``ref`` are folders (or two files) of label maps: PNG, TIFF, NPY, NPZ or
    NIfTI (``.nii``/``.nii.gz``, spacing from the header), paired by file name without its
    ending.  ``metrics`` are catalogue ids or aliases (``dice``, ``iou``, ``hd95``, ``assd``,
    ``nsd``, …); ``labels`` the labels to score (default: every non-zero label found);
    ``regions`` unions of labels (``{"WT": (1, 2, 3)}``); ``ignore_index`` a reference
    label left out of every metric; ``spacing`` overrides the files'.  ``empty`` is the
    overlap metrics' policy for an undefined ratio (``skip``: NaN, ``zero``, ``one``),
    ``both_empty`` the surface metrics' value when neither mask has the class, ``one_empty``
    their distance when exactly one has it.  ``options`` maps a metric to extra keyword
    arguments (``{"hd95": {"percentile": 99}}``).  ``missing="worst"`` scores a missing
    prediction with each metric's worst value instead of failing.

    The work runs here (``jobs=1``), on ``jobs`` worker processes, or on a Dask cluster
    (``client``: a ``dask.distributed.Client``; ``scheduler``: its address), whose workers
    must see the same paths.  Raises :class:`UsageError` for a bad argument and
    :class:`DataError` naming every bad file; returns a :class:`Report`.
    """
    plan = make_plan(metrics, labels=labels, regions=regions, ignore_index=ignore_index, spacing=spacing,
                     empty=empty, both_empty=both_empty, one_empty=one_empty, options=options,
                     missing=missing, max_elements=max_elements)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise UsageError(f"jobs must be a positive integer, got {jobs!r}")
    if client is not None and scheduler is not None:
        raise UsageError("give client or scheduler, not both")
    cases, extra = pair_cases(pred, ref)
    absent = [c for c in cases if c.pred is None]
    if absent and plan.missing == "error":
        raise DataError([Problem(c.id, (c.ref,), "has no prediction") for c in absent])
    with _mapper(jobs, client, scheduler) as mapper:
        if not plan.classes:
            plan = _discover(mapper, cases, plan, progress)
        table = CaseTable(plan.columns, plan.class_names)
        for result in _progress(mapper(score_case, cases, plan), len(cases), progress, "evaluate"):
            table.add(result)
    if table.problems:
        raise DataError(sorted(table.problems, key=lambda p: p.case))
    return Report(table, plan, extra)


def _discover(mapper, cases, plan, progress):
    labels, problems = set(), []
    for result in _progress(mapper(scan_case, cases, plan), len(cases), progress, "scan labels"):
        if result.problem is not None:
            problems.append(result.problem)
        labels |= result.labels
    if problems:
        raise DataError(sorted(problems, key=lambda p: p.case))
    if not labels:
        raise DataError([Problem("", (cases[0].ref,), "no file holds a non-zero label; give labels "
                                                      "explicitly to score empty masks")])
    return plan.with_labels(labels)


def _progress(results, total, progress, what):
    """A tqdm bar on stderr when asked for and stderr is a terminal; the results unchanged otherwise."""
    if not (progress and sys.stderr.isatty()):
        return results
    from tqdm import tqdm
    return tqdm(results, total=total, desc=what, unit="case", file=sys.stderr)


# -- mappers: fn(case, plan) over the cases, results in any order ------------------------

class _mapper:
    """Context manager giving ``map(fn, cases, plan) -> iterator of CaseResult``."""

    def __init__(self, jobs, client, scheduler):
        self.jobs, self.client, self.scheduler = jobs, client, scheduler
        self._own = self._pool = None

    def __enter__(self):
        if self.scheduler is not None:
            from distributed import Client
            self._own = self.client = Client(self.scheduler)
        if self.client is not None:
            return functools.partial(_dask_map, self.client)
        if self.jobs > 1:
            ctx = _context()
            self._pool = ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=_pin_worker,
                                             initargs=(ctx.Value("i", 0),))
            return functools.partial(_pool_map, self._pool, self.jobs)
        return _serial_map

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        if self._own is not None:
            self._own.close()
        return False


def _context():
    """Worker processes forked from a clean server process that has imported the per-case work once.

    Not plain fork: the caller may hold threads (torch, a data loader, a GUI) that fork would
    copy mid-lock.  Not spawn: every worker would pay the imports again (about a second each
    on a busy machine, which eats the gain of a second worker on a few hundred cases).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["segmath.evaluate.work", "scipy.ndimage", "scipy.spatial", "PIL.PngImagePlugin"])
    return ctx


def _pin_worker(counter):
    """Give each worker one core (round robin) and one thread per library pool.

    Libraries start a thread per core inside each case (SciPy's KD-tree query with
    ``workers=-1``, BLAS, OpenMP); with ``jobs`` workers that is ``jobs x cores`` threads
    fighting for the cores, and a second worker then gains nothing.
    """
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 1:
            os.sched_setaffinity(0, {cpus[index % len(cpus)]})
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:                     # optional: only BLAS/OpenMP pools are affected
        pass


def _serial_map(fn, cases, plan):
    return (fn(case, plan) for case in cases)


def _pool_map(pool, jobs, fn, cases, plan):
    chunk = max(1, min(16, len(cases) // (4 * jobs)))
    return pool.map(fn, cases, [plan] * len(cases), chunksize=chunk)


def _dask_map(client, fn, cases, plan):
    from distributed import as_completed
    plan_future = client.scatter(plan, broadcast=True)
    futures = client.map(fn, cases, plan=plan_future, pure=False)
    for future in as_completed(futures):
        result = future.result()
        future.release()
        yield result


__all__ = ["Report", "evaluate_folder", "CaseResult"]
