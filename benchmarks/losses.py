"""segmath losses beside MONAI, segmentation-models-pytorch and plain torch, in one interleaved run.

Forward + backward on (4, 19, 256, 256) float32 logits (CPU here; CUDA when available).
For each loss every implementation is timed in turn, round after round, so drift of a
noisy machine hits all of them alike; the table reports medians, the ratio of segmath
to the fastest anchor (< 1 means segmath is faster) and the peak extra memory of one
forward+backward (measured in a fresh subprocess: max RSS minus RSS before the call on
CPU, ``torch.cuda.max_memory_allocated`` on CUDA).

    python benchmarks/losses.py [--rounds 7] [--device cpu|cuda] [--no-memory] [--only dice,focal]
                                [--shape 4,19,256,256] [--out PATH] [--unchecked]

``--unchecked`` times segmath a second time inside ``segmath.value_checks(False)`` in the same
interleaved rounds (the ``segmath-unchecked`` column and its own ratios; value checks on, the
default, is what a user calls).

Writes ``benchmarks/results/losses_<device>.md`` (or ``--out``); the header records the machine, the
load average before and after the run, and the torch version.  ``--shape`` with a small size is
the quick dry run of ``benchmarks/gpu.sh``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
import types
import warnings

import torch

from timing import machine  # benchmarks/timing.py, beside this script

warnings.filterwarnings("ignore")
ROOT = pathlib.Path(__file__).resolve().parent
SHAPE = (4, 19, 256, 256)


def make_inputs(device, shape=SHAPE, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, c, *spatial = shape
    logits = torch.randn(shape, generator=g).to(device)
    labels = torch.randint(0, c, (n, *spatial), generator=g).to(device)
    onehot = torch.nn.functional.one_hot(labels, c).movedim(-1, 1).float()
    binary_logits = logits[:, :1].contiguous()
    binary_labels = (labels == 0).long()
    return {"logits": logits, "labels": labels, "onehot": onehot,
            "blogits": binary_logits, "blabels": binary_labels}


def anchors():
    """loss id -> (segmath call, {anchor name: call}); each call maps (x, data) -> scalar loss."""
    import monai.losses as ml
    import torch.nn.functional as F

    import segmath as sm
    sys.path.insert(0, str(ROOT.parent / "tests"))
    from oracles import smp_losses
    smp = types.SimpleNamespace(losses=smp_losses())

    c = SHAPE[1]
    w = torch.linspace(0.5, 2.0, c)
    lab = lambda d: d["labels"]  # noqa: E731
    lab1 = lambda d: d["labels"][:, None]  # noqa: E731
    table = {
        "cross_entropy": (lambda x, d: sm.cross_entropy(x, lab(d)),
                          {"torch": lambda x, d: F.cross_entropy(x, lab(d))}),
        "weighted_cross_entropy": (lambda x, d: sm.weighted_cross_entropy(x, lab(d), weight=w.to(x.device)),
                                   {"torch": lambda x, d: F.cross_entropy(x, lab(d), weight=w.to(x.device))}),
        "binary_cross_entropy": (lambda x, d: sm.binary_cross_entropy(x, d["onehot"], activation="sigmoid"),
                                 {"torch": lambda x, d: F.binary_cross_entropy_with_logits(x, d["onehot"])}),
        "focal": (lambda x, d: sm.focal(x, lab(d)),
                  {"monai": (lambda f: lambda x, d: f(x, lab1(d)))(ml.FocalLoss(to_onehot_y=True, use_softmax=True)),
                   "smp": (lambda f: lambda x, d: f(x, lab(d)))(smp.losses.FocalLoss("multiclass"))}),
        "dice": (lambda x, d: sm.dice(x, lab(d)),
                 {"monai": (lambda f: lambda x, d: f(x, lab1(d)))(ml.DiceLoss(softmax=True, to_onehot_y=True)),
                  "smp": (lambda f: lambda x, d: f(x, lab(d)))(smp.losses.DiceLoss("multiclass"))}),
        "log_dice": (lambda x, d: sm.log_dice(x, lab(d)),
                     {"smp": (lambda f: lambda x, d: f(x, lab(d)))(smp.losses.DiceLoss("multiclass", log_loss=True))}),
        "squared_dice": (lambda x, d: sm.squared_dice(x, lab(d)),
                         {"monai": (lambda f: lambda x, d: f(x, lab1(d)))(
                             ml.DiceLoss(softmax=True, to_onehot_y=True, squared_pred=True))}),
        "jaccard": (lambda x, d: sm.jaccard(x, lab(d)),
                    {"monai": (lambda f: lambda x, d: f(x, lab1(d)))(
                        ml.DiceLoss(softmax=True, to_onehot_y=True, jaccard=True)),
                     "smp": (lambda f: lambda x, d: f(x, lab(d)))(smp.losses.JaccardLoss("multiclass"))}),
        "tversky": (lambda x, d: sm.tversky(x, lab(d), alpha=0.3, beta=0.7),
                    {"monai": (lambda f: lambda x, d: f(x, lab1(d)))(
                        ml.TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7)),
                     "smp": (lambda f: lambda x, d: f(x, lab(d)))(smp.losses.TverskyLoss("multiclass", alpha=0.3, beta=0.7))}),
        "generalized_dice": (lambda x, d: sm.generalized_dice(x, lab(d)),
                             {"monai": (lambda f: lambda x, d: f(x, lab1(d)))(
                                 ml.GeneralizedDiceLoss(softmax=True, to_onehot_y=True))}),
        "mcc_loss": (lambda x, d: sm.mcc_loss(x, d["blabels"]),
                     {"smp": (lambda f: lambda x, d: f(torch.sigmoid(x), d["blabels"][:, None].float()))(smp.losses.MCCLoss())},
                     "binary"),
        "lovasz_softmax": (lambda x, d: sm.lovasz_softmax(x, lab(d)),
                           {"smp(per-image loop)": (lambda f: lambda x, d: f(x, lab(d)))(
                               smp.losses.LovaszLoss("multiclass", per_image=True)),
                            "smp(batch)": (lambda f: lambda x, d: f(x, lab(d)))(
                               smp.losses.LovaszLoss("multiclass", per_image=False))}),
        "lovasz_hinge": (lambda x, d: sm.lovasz_hinge(x, d["blabels"]),
                         {"smp(per-image loop)": (lambda f: lambda x, d: f(x, d["blabels"][:, None]))(
                             smp.losses.LovaszLoss("binary", per_image=True))}, "binary"),
        "bce_dice": (lambda x, d: sm.bce_dice(x, d["blabels"]),
                     {"monai": (lambda f: lambda x, d: f(x, d["blabels"][:, None].float()))(
                         ml.DiceCELoss(sigmoid=True))}, "binary"),
    }
    return {k: (v[0], v[1], v[2] if len(v) > 2 else "multiclass") for k, v in table.items()}


REGION = ("dice", "log_dice", "squared_dice", "jaccard", "tversky", "generalized_dice")


def formula(fn):
    """The same segmath call on the formula path (autograd through every step): the reference the
    fused statistics replace, timed beside them (not an anchor)."""
    from segmath.stats import formula_path

    def call(x, d):
        with formula_path():
            return fn(x, d)
    return call


def unchecked(fn):
    """The same segmath call with value checks off (no data read back, nothing checked)."""
    from segmath.validation import value_checks

    def call(x, d):
        with value_checks(False):
            return fn(x, d)
    return call


def step(fn, x, data):
    x.grad = None
    loss = fn(x, data)
    loss.backward()
    return loss


def time_once(fn, x, data, device):
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    step(fn, x, data)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def peak_memory(loss_id, impl, device):
    """Peak extra memory (MiB) of one forward+backward, measured in a fresh process."""
    code = f"""
import sys, resource, torch, json
sys.path.insert(0, {str(ROOT)!r})
import losses as b
b.SHAPE = {SHAPE!r}
torch.set_num_threads(1)  # no OpenMP pool before the fork below (a forked pool deadlocks)
data = b.make_inputs({device!r}, b.SHAPE)
fn_sm, anc, mode = b.anchors()[{loss_id!r}]
fn = (fn_sm if {impl!r} == "segmath" else b.formula(fn_sm) if {impl!r} == "segmath-formula"
      else b.unchecked(fn_sm) if {impl!r} == "segmath-unchecked" else anc[{impl!r}])
x = (data["blogits"] if mode == "binary" else data["logits"]).clone().requires_grad_(True)
import psutil
if {device!r} == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
    b.step(fn, x, data); torch.cuda.synchronize(); peak = torch.cuda.max_memory_allocated() - base
else:
    # a forked child starts with a fresh high-water mark: its max RSS minus its starting RSS is the
    # peak extra memory of the call alone (setup and imports excluded)
    import os
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        base = psutil.Process().memory_info().rss
        b.step(fn, x, data)
        os.write(w, str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base).encode())
        os._exit(0)
    os.close(w); os.waitpid(pid, 0); peak = float(os.read(r, 64))
print(json.dumps(peak / 2**20))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    try:
        return max(0.0, json.loads(out.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError):
        return float("nan")


def run(rounds, device, memory, only, with_unchecked=False):
    import segmath
    torch.manual_seed(0)
    torch.set_num_threads(2)
    data = make_inputs(device, SHAPE)
    known = {e.id for e in segmath.catalogue("loss")}
    rows = []
    for loss_id, (fn_sm, anc, mode) in anchors().items():
        if only and loss_id not in only:
            continue
        if loss_id not in known:
            print(f"  (skip {loss_id}: not in the catalogue)")
            continue
        impls = {"segmath": fn_sm, **({"segmath-unchecked": unchecked(fn_sm)} if with_unchecked else {}),
                 **({"segmath-formula": formula(fn_sm)} if loss_id in REGION else {}), **anc}
        x = (data["blogits"] if mode == "binary" else data["logits"]).clone().requires_grad_(True)
        for fn in impls.values():  # warm-up
            step(fn, x, data)
        times = {k: [] for k in impls}
        for _ in range(rounds):
            for name, fn in impls.items():
                times[name].append(time_once(fn, x, data, device))
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        fastest = min(v for k, v in med.items() if not k.startswith("segmath"))
        # best-of-rounds ratio: the intrinsic cost, less sensitive to a noisy shared machine
        floor = min(min(v) for k, v in times.items() if not k.startswith("segmath"))
        best = min(times["segmath"]) / floor
        off = None
        if "segmath-unchecked" in times:   # (median ratio, best-of-rounds ratio) with value checks off
            off = (med["segmath-unchecked"] / fastest, min(times["segmath-unchecked"]) / floor)
        mem = {k: peak_memory(loss_id, k, device) for k in impls} if memory else {}
        rows.append((loss_id, mode, med, fastest, best, mem, off))
        cells = "  ".join(f"{k} {v:7.1f} ms" for k, v in med.items())
        extra = f" unchecked {off[0]:5.2f} (best {off[1]:4.2f})" if off else ""
        print(f"{loss_id:24s} ratio {med['segmath'] / fastest:5.2f} (best {best:4.2f}){extra}  {cells}", flush=True)
    return rows


def profile_table(loss_id, device, steps=5):
    """torch.profiler table (top operators by self time) of segmath's forward+backward for one loss."""
    from torch.profiler import ProfilerActivity, profile
    fn, _, mode = anchors()[loss_id]
    data = make_inputs(device, SHAPE)
    x = (data["blogits"] if mode == "binary" else data["logits"]).clone().requires_grad_(True)
    step(fn, x, data)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            step(fn, x, data)
    key = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=12)


def write_table(rows, device, rounds, load, out=None, profiles=None):
    lines = [f"# Losses: forward + backward on {SHAPE} float32 ({device})", "",
             f"Machine: {machine(device)}; load average (1 min) {load[0]:.1f} before, {load[1]:.1f} after the run; "
             f"command: `python benchmarks/losses.py {' '.join(sys.argv[1:])}` "
             "(a shared machine: the best-of-rounds ratio is the less noisy one); "
             f"median of {rounds} interleaved rounds. ratio = segmath / fastest anchor, of the medians (< 1: segmath "
             "faster); best of rounds = the same ratio of the fastest rounds. "
             "Memory: peak extra MiB of one forward+backward in a fresh process.", "",
             "| loss | input | segmath ms | anchors (ms) | ratio | ratio (best of rounds) | segmath MiB | anchors MiB |"
             + (" checks off: ratio (best of rounds) |" if any(r[6] for r in rows) else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if any(r[6] for r in rows) else "")]
    for loss_id, mode, med, fastest, best, mem, off in rows:
        anchors_ms = ", ".join(f"{k} {v:.1f}" for k, v in med.items() if k != "segmath")
        anchors_mb = ", ".join(f"{k} {v:.0f}" for k, v in mem.items() if k != "segmath") or "–"   # incl. formula path
        sm_mb = f"{mem['segmath']:.0f}" if mem else "–"
        lines.append(f"| {loss_id} | {mode} | {med['segmath']:.1f} | {anchors_ms} | "
                     f"{med['segmath'] / fastest:.2f} | {best:.2f} | {sm_mb} | {anchors_mb} |"
                     + (f" {off[0]:.2f} ({off[1]:.2f}) |" if off else ""))
    for loss_id, text in (profiles or {}).items():
        lines += ["", f"## Profile: segmath {loss_id}, 5 forward+backward steps", "", "```", text.strip(), "```"]
    out = pathlib.Path(out) if out else ROOT / "results" / f"losses_{device}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


def main():
    global SHAPE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--shape", default=",".join(map(str, SHAPE)), help="N,C,H,W (small for a dry run)")
    ap.add_argument("--out", default=None, help="table path (default benchmarks/results/losses_<device>.md)")
    ap.add_argument("--profile", default="", help="loss ids whose torch.profiler table goes under the table")
    ap.add_argument("--unchecked", action="store_true",
                    help="also time segmath with value checks off (segmath-unchecked), interleaved")
    args = ap.parse_args()
    SHAPE = tuple(int(v) for v in args.shape.split(","))
    only = set(filter(None, args.only.split(",")))
    load = [os.getloadavg()[0]]
    rows = run(args.rounds, args.device, not args.no_memory, only, args.unchecked)
    load.append(os.getloadavg()[0])
    profiles = {k: profile_table(k, args.device) for k in filter(None, args.profile.split(","))}
    for text in profiles.values():
        print(text)
    if not only or args.out:
        write_table(rows, args.device, args.rounds, load, args.out, profiles)


if __name__ == "__main__":
    main()
