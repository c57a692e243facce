"""Every catalogue entry on an accelerator: the same value as on the CPU, gradients included.

For a session that has a CUDA machine (none had one when this was written):

    python benchmarks/device_check.py                 # parity of every entry, CUDA float64 vs CPU float64
    python benchmarks/losses.py --device cuda         # then the timings
    python benchmarks/distances.py --device cuda

Prints one line per entry and writes ``benchmarks/results/device_check_<device>.md``.  A failure is a
value or gradient that differs beyond 1e-8 (relative), a result left on the host, or an exception.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parent


def to_device(x, device):
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.copy()).to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(to_device(v, device) for v in x)
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    return x


def leaves(out):
    if isinstance(out, dict):
        return [out[k] for k in sorted(out)]
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def check(entry, device):
    """(ok, message) for one entry: values (and, for losses, input gradients) on ``device`` vs CPU."""
    args, kwargs = entry.example(0)
    results = {}
    for where in ("cpu", device):
        targs, tkw = to_device(args, where), to_device(kwargs, where)
        x = targs[0]
        if entry.differentiable and x.is_floating_point():
            x = x.clone().requires_grad_(True)
        out = entry.fn(x, *targs[1:], **tkw)
        outs = leaves(out)
        if where != "cpu" and any(isinstance(o, torch.Tensor) and o.device.type != device for o in outs):
            return False, "result not on the input's device"
        grad = None
        if entry.differentiable and x.requires_grad:
            total = out if out.ndim == 0 else out.sum()
            total.backward()
            grad = x.grad.detach().cpu().double().numpy()
        values = [np.asarray(o.detach().cpu().double() if isinstance(o, torch.Tensor) else o, float) for o in outs]
        results[where] = (values, grad)
    (va, ga), (vb, gb) = results["cpu"], results[device]
    for a, b in zip(va, vb):
        np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10, equal_nan=True)
    if ga is not None:
        np.testing.assert_allclose(gb, ga, rtol=1e-8, atol=1e-10)
    return True, "ok"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here; nothing to check")
        return 0
    import segmath
    lines, failures = [], 0
    for entry in segmath.catalogue():
        try:
            ok, msg = check(entry, args.device)
        except Exception as exc:  # report every entry, then fail
            ok, msg = False, repr(exc)[:200]
        failures += not ok
        lines.append(f"| {entry.id} | {entry.kind} | {'ok' if ok else 'FAIL'} | {msg if not ok else ''} |")
        print(f"{'ok  ' if ok else 'FAIL'} {entry.id:28s} {msg if not ok else ''}", flush=True)
    name = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    out = ROOT / "results" / f"device_check_{args.device}.md"
    out.write_text(f"# Catalogue on {name}: float64 values and gradients vs CPU\n\n"
                   "| id | kind | result | detail |\n|---|---|---|---|\n" + "\n".join(lines) + "\n")
    print(f"{len(lines) - failures}/{len(lines)} entries agree; wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
