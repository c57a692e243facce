"""``segmath evaluate`` on a folder of label maps: beside a MONAI loop, one worker against two, memory.

* 500 pairs of 256x256 PNG label maps (labels 1, 2), Dice and HD95 per case and class:
  segmath's ``evaluate_folder`` (``jobs=1``, ``jobs=2``) beside a loop of MONAI's
  ``DiceMetric`` + ``HausdorffDistanceMetric(percentile=95)`` over the same files, read by
  the same reader (:func:`segmath.evaluate.read_label_map`).  Interleaved rounds, median.
* Peak memory (max RSS of a fresh process) of ``evaluate_folder`` over 100 and over 500 cases:
  bounded by the cases in flight, it should not grow with the dataset.
* ``--nifti N``: N NIfTI volumes of 128^3 with HD95 (``jobs=1`` and ``jobs=2``), reported.

    python benchmarks/evaluate.py [--cases 500] [--rounds 3] [--nifti 100] [--out benchmarks/results/evaluate_cpu.md]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def blobs(rng, shape):
    """Two random ellipses (labels 1, 2) and a prediction: shifted, with a few spurious pixels."""
    grid = np.indices(shape).astype(float)
    ref = np.zeros(shape, np.uint8)
    for label in (1, 2):
        c = rng.uniform(0.25, 0.75, len(shape)) * np.array(shape)
        r = rng.uniform(0.08, 0.2, len(shape)) * np.array(shape)
        inside = sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grid, c, r)) < 1
        ref[inside] = label
    pred = np.roll(ref, tuple(rng.integers(-3, 4, len(shape))), axis=tuple(range(len(shape))))
    pred[rng.random(shape) < 0.0005] = 2
    return pred, ref


def make_png_folder(root, n, seed=0):
    from PIL import Image
    rng = np.random.default_rng(seed)
    for d in ("pred", "ref"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pred, ref = blobs(rng, (256, 256))
        Image.fromarray(pred).save(root / "pred" / f"case_{i:04d}.png")
        Image.fromarray(ref).save(root / "ref" / f"case_{i:04d}.png")
    return root / "pred", root / "ref"


def make_nifti_folder(root, n, seed=1):
    import nibabel as nib
    rng = np.random.default_rng(seed)
    for d in ("pred", "ref"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pred, ref = blobs(rng, (128, 128, 128))
        affine = np.diag([0.8, 0.8, 1.5, 1.0])
        nib.save(nib.Nifti1Image(ref, affine), root / "ref" / f"vol_{i:03d}.nii.gz")
        nib.save(nib.Nifti1Image(pred, affine), root / "pred" / f"vol_{i:03d}.nii.gz")
    return root / "pred", root / "ref"


def monai_loop(pred_dir, ref_dir):
    """The MONAI way: read each pair, one-hot, DiceMetric + HausdorffDistanceMetric(95), aggregate."""
    import torch
    from monai.metrics import DiceMetric, HausdorffDistanceMetric
    from segmath.evaluate import read_label_map
    dice = DiceMetric(include_background=False, reduction="none")
    hd95 = HausdorffDistanceMetric(include_background=False, percentile=95, reduction="none")
    for ref_path in sorted(Path(ref_dir).iterdir()):
        p = torch.from_numpy(read_label_map(Path(pred_dir) / ref_path.name).array)
        r = torch.from_numpy(read_label_map(ref_path).array)
        p1 = torch.nn.functional.one_hot(p, 3).movedim(-1, 0)[None].float()
        r1 = torch.nn.functional.one_hot(r, 3).movedim(-1, 0)[None].float()
        dice(p1, r1)
        hd95(p1, r1)
    return dice.aggregate(), hd95.aggregate()


def segmath_run(pred_dir, ref_dir, jobs, metrics=("dice", "hd95"), labels=(1, 2)):
    from segmath.evaluate import evaluate_folder
    return evaluate_folder(pred_dir, ref_dir, metrics, labels=list(labels), jobs=jobs)


def peak_rss_mb(pred_dir, ref_dir):
    """Max RSS (MB) of a fresh process evaluating the folders."""
    code = f"""
import resource
from segmath.evaluate import evaluate_folder
evaluate_folder({str(pred_dir)!r}, {str(ref_dir)!r}, ("dice", "hd95"), labels=[1, 2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def subset(root, pred_dir, ref_dir, n):
    sub = root / f"subset_{n}"
    for d, src in (("pred", pred_dir), ("ref", ref_dir)):
        (sub / d).mkdir(parents=True, exist_ok=True)
        for f in sorted(Path(src).iterdir())[:n]:
            (sub / d / f.name).symlink_to(f)
    return sub / "pred", sub / "ref"


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nifti", type=int, default=0, help="also time N NIfTI volumes of 128^3 (HD95)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pred_dir, ref_dir = make_png_folder(root / "png", args.cases)
        contenders = {"MONAI loop (1 process)": lambda: monai_loop(pred_dir, ref_dir),
                      "segmath evaluate --jobs 1": lambda: segmath_run(pred_dir, ref_dir, 1),
                      "segmath evaluate --jobs 2": lambda: segmath_run(pred_dir, ref_dir, 2)}
        # agreement on Dice (HD95 definitions coincide: MONAI's is the max of directed percentiles)
        d_monai, h_monai = monai_loop(pred_dir, ref_dir)
        rows = segmath_run(pred_dir, ref_dir, 1).rows
        d_seg = np.array([r["dice"] for r in rows]).reshape(-1, 2)
        h_seg = np.array([r["hd95"] for r in rows]).reshape(-1, 2)
        dice_err = float(np.nanmax(np.abs(d_seg - d_monai.numpy())))
        hd_err = float(np.nanmax(np.abs(h_seg - h_monai.numpy())))
        times = {c: [] for c in contenders}
        for _ in range(args.rounds):
            for c, fn in contenders.items():
                times[c].append(timed(fn))
        med = {c: statistics.median(v) for c, v in times.items()}
        base = med["segmath evaluate --jobs 1"]
        lines += [f"## {args.cases} pairs of 256x256 PNG label maps, Dice + HD95 (2 classes), "
                  f"median of {args.rounds} rounds", "",
                  "| contender | seconds | relative to segmath --jobs 1 |", "|---|---|---|"]
        lines += [f"| {c} | {t:.2f} | {t / base:.2f} |" for c, t in med.items()]
        load = os.getloadavg()[0]
        lines += ["", f"load average during the run: {load:.1f} on {os.cpu_count()} cores "
                  "(above the core count, a second worker has no free core to run on)",
                  f"speed-up of --jobs 2 over --jobs 1: {base / med['segmath evaluate --jobs 2']:.2f}x; "
                  f"segmath vs MONAI loop: {med['MONAI loop (1 process)'] / base:.2f}x faster",
                  f"max |segmath - MONAI|: Dice {dice_err:.2e}, HD95 {hd_err:.2e}", ""]
        small = subset(root, pred_dir, ref_dir, max(1, args.cases // 5))
        mem_small, mem_all = peak_rss_mb(*small), peak_rss_mb(pred_dir, ref_dir)
        lines += [f"peak RSS of a fresh process: {mem_small:.0f} MB for {args.cases // 5} cases, "
                  f"{mem_all:.0f} MB for {args.cases} cases", ""]
        if args.nifti:
            npred, nref = make_nifti_folder(root / "nii", args.nifti)
            t1 = timed(lambda: segmath_run(npred, nref, 1, metrics=("hd95",)))
            t2 = timed(lambda: segmath_run(npred, nref, 2, metrics=("hd95",)))
            lines += [f"## {args.nifti} NIfTI volumes of 128^3 (.nii.gz, spacing 0.8x0.8x1.5), HD95, 2 classes",
                      "", f"--jobs 1: {t1:.1f} s ({t1 / args.nifti:.2f} s/volume); --jobs 2: {t2:.1f} s", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        from timing import environment  # benchmarks/timing.py, beside this script
        Path(args.out).write_text(f"# segmath evaluate (CPU, {os.cpu_count()} cores)\n\n"
                                  + environment(load_before, os.getloadavg()[0]) + "\n\n" + text + "\n")


if __name__ == "__main__":
    main()
