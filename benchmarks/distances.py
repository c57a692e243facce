"""Distance transform and surface metrics: segmath beside SciPy and MONAI.

Interleaved in one run (each round times every contender once), median of the rounds.
CPU: ``torch.set_num_threads(2)``; on a CUDA machine pass ``--device cuda`` (MONAI then
uses cuCIM if installed, SciPy stays on the CPU).  On a CPU, segmath's default path for
tensors is SciPy (a KD-tree over the surfaces for the metrics, as MONAI); the rows marked
"torch" time the pure-torch solvers instead (``cpu_backend("torch")``), the code that runs
on accelerators.

The row "torch.compile" is the traced Hausdorff distance (``fullgraph=True``, the eager backend):
no bounding-box crop and the sync-free ``"bisect"`` EDT on the full grid, as on accelerators.

    python benchmarks/distances.py [--rounds 5] [--device cpu] [--size 128] [--out benchmarks/results/distances_cpu.md]
"""
from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import scipy.ndimage as ndi
import torch

import segmath
from timing import environment, run  # benchmarks/timing.py, beside this script
from segmath.primitives.edt import cpu_backend

warnings.filterwarnings("ignore")


def spheres(n=128):
    z, y, x = np.mgrid[:n, :n, :n]
    a = (z - 60) ** 2 + (y - 64) ** 2 + (x - 64) ** 2 < 40 ** 2
    b = (z - 66) ** 2 / 1.2 + (y - 60) ** 2 + (x - 68) ** 2 < 38 ** 2
    return a, b


def build(device, n=128):
    from monai.metrics import (compute_average_surface_distance, compute_hausdorff_distance,
                               compute_surface_dice)
    rng = np.random.default_rng(0)
    img2 = rng.random((8 * n, 8 * n)) > 0.001
    vol3 = rng.random((n, n, n)) > 0.0001
    t2, t3 = torch.from_numpy(img2).to(device), torch.from_numpy(vol3).to(device)
    a, b = spheres(n)
    pred = torch.from_numpy(np.stack([~a, a])[None].astype(np.float32)).to(device)     # scores (arg-max)
    true = torch.from_numpy(b.astype(np.int64)[None]).to(device)
    oh_p = pred
    oh_t = torch.from_numpy(np.stack([~b, b])[None].astype(np.float32)).to(device)
    def torch_path(fn, *args, **kw):
        def call():
            with cpu_backend("torch"):
                return fn(*args, **kw)
        return call

    traced_hd = torch.compile(segmath.hausdorff, backend="eager", fullgraph=True)   # no crop, "bisect" EDT

    def compiled():
        with segmath.value_checks(False):
            return traced_hd(pred, true)

    v = f"{n}^3"
    cases = {
        f"edt {8 * n}x{8 * n} (torch)": {"segmath": torch_path(segmath.edt, t2),
                                  "SciPy": lambda: ndi.distance_transform_edt(img2)},
        f"edt {v} (torch)": {"segmath": torch_path(segmath.edt, t3, ndim=3),
                              "SciPy": lambda: ndi.distance_transform_edt(vol3)},
        f"hausdorff {v}": {"segmath": lambda: segmath.hausdorff(pred, true),
                            "MONAI": lambda: compute_hausdorff_distance(oh_p, oh_t)},
        f"hd95 {v}": {"segmath": lambda: segmath.hd95(pred, true),
                       "MONAI": lambda: compute_hausdorff_distance(oh_p, oh_t, percentile=95)},
        f"assd {v}": {"segmath": lambda: segmath.assd(pred, true),
                       "MONAI": lambda: compute_average_surface_distance(oh_p, oh_t, symmetric=True)},
        f"nsd {v}": {"segmath": lambda: segmath.nsd(pred, true, tolerance=2.0),
                      "MONAI": lambda: compute_surface_dice(oh_p, oh_t, [2.0])},
        f"hausdorff {v} (torch)": {"segmath": torch_path(segmath.hausdorff, pred, true),
                                   "MONAI": lambda: compute_hausdorff_distance(oh_p, oh_t)},
        f"hausdorff {v} (torch.compile: full grid, bisect)": {
            "segmath": compiled, "MONAI": lambda: compute_hausdorff_distance(oh_p, oh_t)},
    }
    if device != "cpu":                             # the "torch" rows are the default there
        cases = {r: c for r, c in cases.items() if "(torch)" not in r or r.startswith("edt")}
    # same answers before timing anything
    np.testing.assert_allclose(torch_path(segmath.edt, t2)().cpu().numpy(), ndi.distance_transform_edt(img2),
                               rtol=1e-5)
    np.testing.assert_allclose(float(torch_path(segmath.hausdorff, pred, true)()),
                               float(compute_hausdorff_distance(oh_p, oh_t)), rtol=1e-4)
    checks = [(segmath.hausdorff(pred, true), compute_hausdorff_distance(oh_p, oh_t)),
              (segmath.assd(pred, true), compute_average_surface_distance(oh_p, oh_t, symmetric=True)),
              (segmath.nsd(pred, true, tolerance=2.0), compute_surface_dice(oh_p, oh_t, [2.0]))]
    checks.append((compiled(), compute_hausdorff_distance(oh_p, oh_t)))
    for ours, ref in checks:
        np.testing.assert_allclose(float(ours), float(ref), rtol=1e-4)
    return cases


def table(result, device):
    lines = [f"Device: {device}, torch threads: {torch.get_num_threads()}, torch {torch.__version__}", "",
             "| case | segmath (ms) | reference | reference (ms) | segmath / reference |",
             "|---|---:|---|---:|---:|"]
    for row, times in result.items():
        ref = [c for c in times if c != "segmath"][0]
        lines.append(f"| {row} | {times['segmath'] * 1e3:.1f} | {ref} | {times[ref] * 1e3:.1f} | "
                     f"{times['segmath'] / times[ref]:.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None)
    parser.add_argument("--size", type=int, default=128, help="volume side n (n^3 volumes, (8n)^2 images)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    load = os.getloadavg()[0]
    result = run(build(args.device, args.size), args.rounds, args.device)
    text = table(result, args.device)
    print(text)
    out = args.out or f"benchmarks/results/distances_{args.device}.md"
    with open(out, "w") as fh:
        fh.write("# Distances: segmath vs SciPy / MONAI\n\n"
                 f"Median of {args.rounds} interleaved rounds.\n\n"
                 + environment(load, os.getloadavg()[0], args.device) + "\n\n" + text + "\n")


if __name__ == "__main__":
    main()
