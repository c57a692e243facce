"""Instances and panoptic: the embedding losses beside a per-instance Python loop, panoptic_quality beside
torchmetrics, instance_ap on many images.

Interleaved rounds (each round times every contender once): the median and the best of the rounds;
CPU with one torch thread by default (``--threads``), or ``--device cuda``.  pycocotools /
faster-coco-eval are not in the pinned environment (and torchmetrics' MeanAveragePrecision needs one of
them), so instance_ap gets an absolute time.  For the embedding losses the peak extra memory of one
forward+backward is measured in a forked child (its max RSS minus its RSS at the fork, on CPU;
``torch.cuda.max_memory_allocated`` on CUDA) and given beside the size of the input.

    python benchmarks/instances.py [--rounds 3] [--device cpu] [--no-memory] [--out benchmarks/results/instances_cpu.md]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import resource
import statistics
import sys

import numpy as np
import torch

import segmath
from timing import run_rounds  # benchmarks/timing.py, beside this script


def voronoi(shape, k, rng, background=0.1):
    """Instance ids 1..k by nearest of k random seeds, a fraction ``background`` of blobs set to 0."""
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    seeds = rng.uniform(0, 1, (k, 2)) * np.array(shape)
    best = np.full(shape, np.inf)
    lab = np.zeros(shape, np.int64)
    for j, (sy, sx) in enumerate(seeds):           # k passes: no (H, W, k) temporary
        d = (ys - sy) ** 2 + (xs - sx) ** 2
        lab = np.where(d < best, j + 1, lab)
        best = np.minimum(best, d)
    lab[np.isin(lab, rng.choice(np.arange(1, k + 1), max(1, int(background * k)), replace=False))] = 0
    return lab


def loop_discriminative(x, y, dv=0.5, dd=1.5, gamma=0.001):
    """The per-image, per-instance loop of the public implementations (boolean mask per instance)."""
    total = 0.0
    for n in range(x.shape[0]):
        e, lab = x[n].reshape(x.shape[1], -1), y[n].reshape(-1)
        mus, var = [], 0.0
        ids = [int(i) for i in torch.unique(lab).tolist() if i != 0]
        for i in ids:
            m = lab == i
            mu = e[:, m].mean(1)
            var = var + torch.clamp(torch.norm(e[:, m] - mu[:, None], dim=0) - dv, min=0).pow(2).mean()
            mus.append(mu)
        c = len(ids)
        mus = torch.stack(mus)
        dist = torch.cdist(mus, mus)
        off = ~torch.eye(c, dtype=torch.bool, device=x.device)
        l_dist = torch.clamp(2 * dd - dist[off], min=0).pow(2).sum() / (c * (c - 1))
        total = total + var / c + l_dist + gamma * torch.norm(mus, dim=1).mean()
    return total / x.shape[0]


def _lovasz_hinge_loop(logits, labels):
    signs = 2 * labels - 1
    err = 1 - logits * signs
    e, perm = torch.sort(err, descending=True)
    g = labels[perm]
    inter = g.sum() - g.cumsum(0)
    union = g.sum() + (1 - g).cumsum(0)
    jac = 1 - inter / union
    jac = torch.cat([jac[:1], jac[1:] - jac[:-1]])
    return torch.dot(torch.relu(e), jac)


def loop_spatial(x, y):
    """Per-image, per-instance loop of the official code's structure (weights 1, 10, 1)."""
    n, _, h, w = x.shape
    grid = torch.stack(torch.meshgrid(torch.arange(h, device=x.device) / max(h, w),
                                      torch.arange(w, device=x.device) / max(h, w), indexing="ij"))
    total = 0.0
    for i in range(n):
        emb = (grid + torch.tanh(x[i, :2])).reshape(2, -1)
        s, seed = x[i, 2].reshape(-1), torch.sigmoid(x[i, 3]).reshape(-1)
        lab = y[i].reshape(-1)
        inst, var, seed_l = 0.0, 0.0, (seed[lab == 0] ** 2).sum()
        ids = [int(v) for v in torch.unique(lab).tolist() if v != 0]
        for k in ids:
            m = lab == k
            c, sbar = emb[:, m].mean(1, keepdim=True), s[m].mean()
            phi = torch.exp(-((emb - c) ** 2).sum(0) / (2 * torch.exp(sbar) ** 2))
            inst = inst + _lovasz_hinge_loop(2 * phi - 1, m.to(x.dtype))
            var = var + ((s[m] - sbar.detach()) ** 2).mean()
            seed_l = seed_l + ((seed[m] - phi[m].detach()) ** 2).sum()
        total = total + inst / len(ids) + 10 * var / len(ids) + seed_l / lab.numel()
    return total / n


def loss_cases(device, shape=(4, 16, 256, 256), k=30):
    rng = np.random.default_rng(0)
    y = torch.from_numpy(np.stack([voronoi(shape[2:], k, rng) for _ in range(shape[0])])).to(device)
    x = torch.randn(shape, device=device, requires_grad=True)

    def step(fn, **kw):
        def go():
            x.grad = None
            fn(x, y, **kw).backward()
        return go
    xs = torch.randn((shape[0], 4) + shape[2:], device=device, requires_grad=True)
    with segmath.value_checks(False):
        a = float(segmath.discriminative(x, y, max_id=k))
        c = float(segmath.spatial_embedding(xs, y, max_id=k))
    d = float(loop_spatial(xs, y))
    assert abs(c - d) <= 1e-4 * abs(d), (c, d)
    b = float(loop_discriminative(x, y))
    assert abs(a - b) <= 1e-4 * abs(b), (a, b)      # the two compute the same loss
    off = {"max_id": k}
    INPUT_MIB.update({"discriminative": (x.numel() * x.element_size() + y.numel() * y.element_size()) / 2**20,
                      "spatial_embedding": (xs.numel() * xs.element_size() + y.numel() * y.element_size()) / 2**20})
    return {
        "discriminative fwd+bwd (4, 16, 256, 256), 30 instances": {
            "segmath": _unchecked(step(segmath.discriminative, **off)), "per-instance loop": step(loop_discriminative)},
        "spatial_embedding fwd+bwd (4, 4, 256, 256), 30 instances": {
            "segmath": _unchecked(lambda: _step_on(xs, y, segmath.spatial_embedding, max_id=k)),
            "per-instance loop": lambda: _step_on(xs, y, loop_spatial)},
        "push_pull_balls fwd+bwd (4, 16, 256, 256), 30 instances": {
            "segmath": _unchecked(step(segmath.push_pull_balls, **off))},
        "pairwise_similarity fwd+bwd (4, 16, 256, 256), K=10 per instance": {
            "segmath": _unchecked(step(segmath.pairwise_similarity, samples=10, **off))},
    }


INPUT_MIB = {}


def _step_on(x, y, fn, **kw):
    x.grad = None
    fn(x, y, **kw).backward()


def _unchecked(fn):
    def go():
        with segmath.value_checks(False):
            fn()
    return go


def panoptic_cases(device, shape=(1024, 2048)):
    rng = np.random.default_rng(1)
    inst = voronoi(shape, 60, rng, background=0.0)
    cat = np.where(inst % 3 == 0, 4, 1 + inst % 2)          # things 1, 2; stuff 4
    t = np.stack([cat, inst])[None]
    p = t.copy()
    p[0, 1] = np.roll(t[0, 1], 9, axis=1)
    tt, pt = torch.from_numpy(t).to(device), torch.from_numpy(p).to(device)
    from torchmetrics.detection import PanopticQuality

    def tm():
        m = PanopticQuality(things={1, 2}, stuffs={4}).to(device)
        m.update(pt.permute(0, 2, 3, 1), tt.permute(0, 2, 3, 1))
        return m.compute()
    ours = segmath.panoptic_quality(pt, tt, things=(1, 2), stuffs=(4,))["pq"]
    assert abs(float(ours) - float(tm())) < 1e-6
    return {"panoptic_quality 1024x2048, ~60 segments": {
        "segmath": lambda: segmath.panoptic_quality(pt, tt, things=(1, 2), stuffs=(4,)), "torchmetrics": tm}}


def ap_cases(images=500, size=64):
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:size, :size]
    preds, target = [], []
    for _ in range(images):
        g, gl = [], []
        for _ in range(rng.integers(3, 10)):
            cy, cx, r = rng.integers(8, size - 8), rng.integers(8, size - 8), rng.integers(3, 10)
            g.append((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)
            gl.append(int(rng.integers(0, 3)))
        d = [np.roll(m, int(rng.integers(-2, 3)), axis=1) for m in g] + [g[0][::-1]]
        target.append({"masks": np.array(g), "labels": np.array(gl)})
        preds.append({"masks": np.array(d), "scores": rng.random(len(d)), "labels": np.array(gl + [gl[0]])})
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
    from oracles.coco import coco_eval                  # pycocotools, from RLE-encoding the masks to summarize
    ours, ref = segmath.instance_ap(preds, target), coco_eval(preds, target).stats
    assert abs(float(ours["map"]) - ref[0]) < 1e-12 and abs(float(ours["map_50"]) - ref[1]) < 1e-12
    return {f"instance_ap, {images} images {size}x{size}, 3-9 objects": {
        "segmath": lambda: segmath.instance_ap(preds, target), "pycocotools": lambda: coco_eval(preds, target)}}


def run(cases, rounds, device):
    """cases: {row: {contender: fn}} -> {row: {contender: (median s, best s)}} over interleaved rounds."""
    times = run_rounds(cases, rounds, device)
    return {r: {c: (statistics.median(v), min(v)) for c, v in row.items()} for r, row in times.items()}


def peak_extra_mib(fn, device):
    """Peak extra memory (MiB) of one call of ``fn``: CUDA allocator peak, or a forked child's max RSS growth."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    import psutil

    from segmath.primitives import sorting
    sorting._FREE.clear()        # key buffers pooled by earlier calls: the child allocates (and counts) its own
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child's high-water mark starts at its RSS now
        base = psutil.Process().memory_info().rss
        fn()
        os.write(w, str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    out = os.read(r, 64)
    os.close(r)
    return max(0.0, float(out)) / 2**20 if out else float("nan")


def memory_rows(cases, device):
    """{row: {contender: MiB}} for the embedding-loss rows (the others have no memory column)."""
    out = {}
    for r, row in cases.items():
        if r.split()[0] in INPUT_MIB:
            out[r] = {c: peak_extra_mib(fn, device) for c, fn in row.items()}
    return out


def table(results, memory):
    lines = ["| case | contender | median s | best s | ratio to segmath (median) | ratio (best) | peak extra MiB "
             "| MiB / input MiB |", "|---|---|---|---|---|---|---|---|"]
    for r, row in results.items():
        base_med, base_best = row["segmath"]
        size = INPUT_MIB.get(r.split()[0])
        for c, (med, best) in row.items():
            mib = memory.get(r, {}).get(c)
            mem = f"{mib:.0f} | {mib / size:.1f}" if mib is not None and size else "– | –"
            lines.append(f"| {r} | {c} | {med:.4f} | {best:.4f} | {med / base_med:.2f} | {best / base_best:.2f} | {mem} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated groups: losses, panoptic, ap (default: all)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    only = set(filter(None, a.only.split(","))) or {"losses", "panoptic", "ap"}
    if only - {"losses", "panoptic", "ap"}:
        ap.error(f"--only: unknown group(s) {', '.join(sorted(only - {'losses', 'panoptic', 'ap'}))}; "
                 "choose from losses, panoptic, ap")
    load = [os.getloadavg()[0]]
    results, memory = {}, {}
    if "losses" in only:
        cases = loss_cases(a.device)
        results.update(run(cases, a.rounds, a.device))
        if not a.no_memory:
            memory = memory_rows(cases, a.device)
    if "panoptic" in only:
        results.update(run(panoptic_cases(a.device), a.rounds, a.device))
    if "ap" in only:
        results.update(run(ap_cases(), max(1, a.rounds - 2), a.device))
    load.append(os.getloadavg()[0])
    text = (f"# Instances benchmark ({a.device}, {a.threads} torch thread(s), {platform.processor() or platform.machine()})\n\n"
            f"`python benchmarks/instances.py --rounds {a.rounds} --device {a.device}`; median and best of "
            f"interleaved rounds; torch {torch.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, "
            f"load average (1 min) {load[0]:.1f} before, {load[1]:.1f} after the run (a shared machine: the "
            "best-of-rounds ratio is the less noisy one).  Peak extra MiB: one forward+backward in a forked "
            "child (max RSS growth); MiB / input MiB: that over the size of the input and target.\n\n"
            + table(results, memory) + "\n")
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
