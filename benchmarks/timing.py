"""Interleaved timing shared by the benchmark scripts (run as ``python benchmarks/<name>.py``).

Each round times every contender once, so a load spike on this shared machine hits all of them alike;
the table reports the median of the rounds.  On CUDA the device is synchronised around each call.
"""
from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
import time

import torch


def machine(device="cpu"):
    """CPU model (and GPU), cores, torch threads and version."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", {torch.cuda.get_device_name()}" if device == "cuda" else ""
    return f"{cpu} ({os.cpu_count()} cores){gpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def command():
    """The command line that ran this script, as one would type it from the repository root."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]))
    return shlex.join(["python", script] + sys.argv[1:])


def environment(load_before, load_after, device="cpu"):
    """The header line every results table carries: machine, load average before/after, torch, command."""
    return (f"Machine: {machine(device)}; load average (1 min) {load_before:.1f} before, {load_after:.1f} after "
            f"the run; command: `{command()}`.")


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


def run_rounds(cases, rounds, device):
    """cases: {row: {contender: fn}} -> {row: {contender: [seconds of each round]}}, rounds interleaved."""
    for row in cases.values():                      # warm-up (lazy imports, tables, allocators)
        for fn in row.values():
            fn()
    times = {r: {c: [] for c in row} for r, row in cases.items()}
    for _ in range(rounds):
        for r, row in cases.items():
            for c, fn in row.items():
                times[r][c].append(timed(fn, device))
    return times


def run(cases, rounds, device):
    """cases: {row: {contender: fn}} -> {row: {contender: median seconds}} over interleaved rounds."""
    times = run_rounds(cases, rounds, device)
    return {r: {c: statistics.median(v) for c, v in row.items()} for r, row in times.items()}
