"""Post-processing: tv_denoise beside scikit-image; dense_crf's permutohedral method beside the exact one.

Interleaved rounds (each round times every contender once), median of the rounds; CPU with one torch
thread by default (``--threads``), or ``--device cuda``.  pydensecrf is not in the pinned environment (its
build needs Cython < 3), so the CRF rows give absolute times and the exact method's time and error.

    python benchmarks/postprocess.py [--rounds 5] [--device cpu] [--scale 1] [--out benchmarks/results/postprocess_cpu.md]
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from skimage import data, transform
from skimage.restoration import denoise_tv_chambolle

import segmath
from timing import environment, run  # benchmarks/timing.py, beside this script


def noisy_blocks(shape, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.random(tuple(max(2, s // 16) for s in shape))
    f = transform.resize(coarse, shape, order=0) + 0.15 * rng.standard_normal(shape)
    return f


def crf_inputs(shape=(320, 480), classes=21, seed=0):
    """The astronaut (bundled with scikit-image) resized, and noisy logits of a colour quantisation."""
    img = transform.resize(data.astronaut(), shape, anti_aliasing=True) * 255.0
    grey = img.mean(-1)
    labels = np.minimum((grey / 256.0 * classes).astype(int), classes - 1)
    rng = np.random.default_rng(seed)
    logits = 2.0 * np.moveaxis(np.eye(classes)[labels], -1, 0) + rng.standard_normal((classes,) + shape)
    return logits[None], np.moveaxis(img, -1, 0)[None]


def tv_cases(device, scale=1.0):
    cases, errors = {}, {}
    a, b = int(512 * scale), int(128 * scale)
    for name, shape in ((f"{a}x{a}", (a, a)), (f"{b}^3", (b, b, b))):
        f = noisy_blocks(shape)
        ft = torch.from_numpy(f).to(device)
        row = f"tv_denoise {name}"
        cases[row] = {
            "segmath numpy": lambda f=f: segmath.tv_denoise(f, 0.1),
            "segmath torch": lambda ft=ft: segmath.tv_denoise(ft, 0.1),
            "scikit-image": lambda f=f: denoise_tv_chambolle(f, weight=0.1),
        }
        ref = denoise_tv_chambolle(f, weight=0.1)
        errors[row] = max(float(np.abs(segmath.tv_denoise(f, 0.1) - ref).max()),
                          float(np.abs(segmath.tv_denoise(ft, 0.1).cpu().numpy() - ref).max()))
    return cases, errors


def crf_cases(device, scale=1.0):
    h, w = int(320 * scale), int(480 * scale)
    unary, img = crf_inputs((h, w))
    u32, i32 = unary.astype(np.float32), img.astype(np.float32)
    ut, it = torch.from_numpy(u32).to(device), torch.from_numpy(i32).to(device)
    cases = {f"dense_crf {h}x{w}, 21 classes, 5 it": {
        "permutohedral numpy": lambda: segmath.dense_crf(u32, i32, n_iter=5),
        "permutohedral torch": lambda: segmath.dense_crf(ut, it, n_iter=5),
        "permutohedral torch, no bilateral": lambda: segmath.dense_crf(ut, it, n_iter=5, w_bilateral=None)}}
    # the exact method is O(P^2): compare on a 64x96 crop-by-resize of the same scene
    eh, ew = int(64 * scale), int(96 * scale)
    su, si = crf_inputs((eh, ew))
    sut, sit = torch.from_numpy(su).to(device), torch.from_numpy(si).to(device)
    kw = dict(n_iter=5, theta_alpha=16.0 * scale)     # 80 px at 320x480 is 16 px at 64x96
    cases[f"dense_crf {eh}x{ew}, 21 classes, 5 it"] = {
        "permutohedral torch": lambda: segmath.dense_crf(sut, sit, **kw),
        "exact torch": lambda: segmath.dense_crf(sut, sit, **kw, method="exact")}
    errors = {}
    for norm in ("none", "symmetric"):
        q_fast = segmath.dense_crf(su, si, **kw, normalization=norm)
        q_exact = segmath.dense_crf(su, si, **kw, method="exact", normalization=norm)
        errors[norm] = (float(np.abs(q_fast - q_exact).mean()), float(np.abs(q_fast - q_exact).max()),
                        float((q_fast.argmax(1) != q_exact.argmax(1)).mean()))
    lattice = segmath.postprocess.crf._LatticeKernel(
        np, segmath.postprocess.crf._bilateral_features(np, i32, {"bilateral": (10.0, 80.0, 13.0),
                                                                  "spacing": (1.0, 1.0)}, np.float32, "cpu"))
    return cases, errors, lattice.lattice.m


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: NumPy, SciPy and scikit-image are single-threaded too, and on a "
                             "loaded 2-core machine two torch threads stall each other)")
    parser.add_argument("--scale", type=float, default=1.0, help="image sides times this (0.5: a quick run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()[0]
    tv, tv_err = tv_cases(args.device, args.scale)
    crf, crf_err, lattice_m = crf_cases(args.device, args.scale)
    times = run({**tv, **crf}, args.rounds, args.device)
    load1 = os.getloadavg()[0]
    lines = ["# Post-processing: segmath beside scikit-image; the dense CRF's fast and exact methods", "",
             f"Median of {args.rounds} interleaved rounds; device {args.device}.", "",
             environment(load0, load1, args.device), "",
             "| case | contender | ms | / reference |", "|---|---|---:|---:|"]
    for row, res in times.items():
        ref = res.get("scikit-image", res.get("exact torch"))
        for c, t in res.items():
            ratio = f"{t / ref:.2f}" if ref else ""
            lines.append(f"| {row} | {c} | {1e3 * t:.1f} | {ratio} |")
    lines += ["", "Agreement:", ""]
    for row, e in tv_err.items():
        lines.append(f"- {row}: max |segmath - scikit-image| = {e:.2g} (numpy and torch float64)")
    for norm, (mean, mx, flips) in crf_err.items():
        lines.append(f"- dense_crf {int(64 * args.scale)}x{int(96 * args.scale)}, normalization={norm!r}: permutohedral vs exact mean |dQ| = {mean:.2g}, "
                     f"max |dQ| = {mx:.2g}, argmax differs on {100 * flips:.2f}% of pixels")
    h, w = int(320 * args.scale), int(480 * args.scale)
    lines.append(f"- memory: the {h}x{w} lattice has {lattice_m} vertices for {h * w} pixels (linear in "
                 f"pixels; the filter holds (vertices + pixels x 6) x classes values)")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
