"""Widget latency, end to end: from a slider event until the explorer's image widget holds the new PNG.

For each explorer of ``segmath.teaching.widgets`` (imbalance, surrogate, shapes) every slider is moved
through a sweep of values, one step at a time, exactly as a user drags it: the step sets the ipywidgets
slider's ``value``, the observer recomputes and redraws, the frame is encoded to PNG into the ``Image``
widget, and the widget state that the comm would send to the browser is serialised.  The clock stops
when the ``Image`` holds new PNG bytes.  Wall time and CPU time of the process are both recorded: on an
idle machine they agree; the gap is time spent waiting for a core.

The design bar (DESIGN.md §4) is "well under 100 ms" on an idle machine.  This is a benchmark, not a
test: its numbers depend on the machine and its load, which the table header records.

    python benchmarks/widgets.py [--steps 12] [--out benchmarks/results/widgets_cpu.md]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time

import matplotlib

matplotlib.use("Agg")

ROOT = pathlib.Path(__file__).resolve().parent
PNG = b"\x89PNG\r\n\x1a\n"


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _parts(box):
    """(sliders by description, the Image widget) of an explorer box."""
    import ipywidgets as W
    sliders = {w.description: w for w in _walk(box)
               if isinstance(w, (W.FloatSlider, W.IntSlider, W.FloatLogSlider))}
    image = next(w for w in _walk(box) if isinstance(w, W.Image))
    return sliders, image


def _readout(box):
    """The explorer's HTML readout of its numbers (``None`` if it has none)."""
    import ipywidgets as W
    return next((w for w in _walk(box) if isinstance(w, W.HTML)), None)


def _sweep(slider, steps):
    """``steps`` values across the slider's range (what a drag passes through), never the current one."""
    import numpy as np
    lo, hi = slider.min, slider.max
    values = np.linspace(lo, hi, steps + 1)[1:]
    if hasattr(slider, "base"):                       # FloatLogSlider: min/max are exponents
        values = slider.base ** values
    if isinstance(slider.value, int):
        values = np.unique(np.round(values).astype(int))
    return [v.item() for v in values if v.item() != slider.value]


def _step(slider, image, value, readout=None):
    """(wall s, CPU s) from setting the slider to the new PNG in the image (and its state serialised).

    A step that leaves the picture as it was (the class weight far out moves one dashed line by less than
    a pixel) must change the explorer's HTML readout instead."""
    before, text = bytes(image.value), readout.value if readout is not None else None
    w0, c0 = time.perf_counter(), time.process_time()
    slider.value = value                              # the event: observers recompute, redraw, encode
    image.get_state()                                 # what the comm sends to the browser
    new = bytes(image.value)
    w1, c1 = time.perf_counter(), time.process_time()
    if not new.startswith(PNG) or (new == before and (readout is None or readout.value == text)):
        raise RuntimeError(f"{slider.description} -> {value}: the image did not change to a new PNG")
    return w1 - w0, c1 - c0


def explorers():
    from segmath.teaching.widgets import imbalance, shapes, surrogate
    return {"imbalance": imbalance.imbalance_explorer, "surrogate": surrogate.surrogate_explorer,
            "shapes": shapes.shape_explorer}


def measure(steps=12):
    rows = []
    for name, make in explorers().items():
        box = make()
        sliders, image = _parts(box)
        readout = _readout(box)
        first = next(iter(sliders.values()))
        _step(first, image, _sweep(first, 2)[0], readout)   # warm caches (fonts, glyph cache) once
        start = {label: s.value for label, s in sliders.items()}
        for label, slider in sliders.items():
            for other, s in sliders.items():          # each sweep starts from the explorer's first state
                s.value = start[other]
            wall, cpu = zip(*(_step(slider, image, v, readout) for v in _sweep(slider, steps)))
            rows.append((name, label, len(wall), wall, cpu))
    return rows


def _ms(v):
    return f"{1e3 * v:.1f}"


def _p90(v):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


def _machine():
    model = platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return model


def table(rows, load_before, load_after):
    import ipywidgets
    import torch
    lines = [
        "# Widget latency, end to end (slider event -> new PNG in the image widget)",
        "",
        f"Machine: {_machine()}, {os.cpu_count()} cores; load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.2f}' for x in load_before)} before and {', '.join(f'{x:.2f}' for x in load_after)} "
        f"after; torch {torch.__version__}, matplotlib {matplotlib.__version__}, ipywidgets {ipywidgets.__version__}, "
        f"Python {platform.python_version()}; command: `python benchmarks/widgets.py {' '.join(sys.argv[1:])}`.",
        "",
        "Each step sets the slider's value; the explorer's observer recomputes, redraws (blitting the changing "
        "artists) and encodes the PNG into the `Image` widget, whose state is then serialised as for the comm. "
        "Wall = perf_counter, CPU = process time (equal on an idle machine). Bar: well under 100 ms.",
        "",
        "| explorer | slider | steps | wall median ms | wall p90 ms | wall max ms | CPU median ms | CPU max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label, n, wall, cpu in rows:
        lines.append(f"| {name} | {label} | {n} | {_ms(statistics.median(wall))} | {_ms(_p90(wall))} | "
                     f"{_ms(max(wall))} | {_ms(statistics.median(cpu))} | {_ms(max(cpu))} |")
    allw = [w for r in rows for w in r[3]]
    allc = [c for r in rows for c in r[4]]
    lines += ["", f"All {len(allw)} steps: wall median {_ms(statistics.median(allw))} ms, p90 {_ms(_p90(allw))} ms, "
              f"max {_ms(max(allw))} ms; CPU median {_ms(statistics.median(allc))} ms, max {_ms(max(allc))} ms.", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=12, help="values per slider sweep")
    ap.add_argument("--out", type=pathlib.Path, default=None,
                    help="write the markdown table here (e.g. benchmarks/results/widgets_cpu.md)")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    rows = measure(args.steps)
    text = table(rows, load_before, os.getloadavg())
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
