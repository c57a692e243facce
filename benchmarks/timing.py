"""Interleaved timing shared by the benchmark scripts (run as ``python benchmarks/<name>.py``).

Each round times every contender once, so a load spike on this shared machine hits all of them alike;
the table reports the median of the rounds.  On CUDA the device is synchronised around each call.
"""
from __future__ import annotations

import statistics
import time

import torch


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    """Seconds for one call of ``fn``, the device synchronised before and after."""
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def run(cases, rounds, device):
    """cases: {row: {contender: fn}} -> {row: {contender: median seconds}} over interleaved rounds."""
    for row in cases.values():                      # warm-up (lazy imports, tables, allocators)
        for fn in row.values():
            fn()
    times = {r: {c: [] for c in row} for r, row in cases.items()}
    for _ in range(rounds):
        for r, row in cases.items():
            for c, fn in row.items():
                times[r][c].append(timed(fn, device))
    return {r: {c: statistics.median(v) for c, v in row.items()} for r, row in times.items()}
