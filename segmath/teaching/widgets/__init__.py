"""Reusable ipywidgets explorers for the book and the notebooks.

Each explorer has a pure ``*_figure(...)`` function (a matplotlib figure of one
state), an ``*_explorer()`` that wires it to sliders (live, in a running notebook), and,
in :mod:`.static`, a ``*_static()`` form: precomputed frames behind a slider, which the
HTML book shows (it works with no kernel and no network).  A slider step should answer in well under 100 ms:
``benchmarks/widget_latency.py`` measures it end to end in JupyterLab (arrow key to new picture, headless
Chromium), ``benchmarks/widgets.py`` the Python callback alone; no test asserts a time.  The live view is
fast because a step redraws lines only (blitting; the numbers are an HTML readout), encodes a small palette
PNG, keeps the frames it has drawn and renders the next step of the moving slider ahead
(:class:`~.render.FrameSource`).
"""
import importlib

_MODULES = {"imbalance": ".imbalance", "surrogate": ".surrogate", "shapes": ".shapes", "static": ".static"}


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(_MODULES[name], __name__)
    for mod in _MODULES.values():
        try:
            m = importlib.import_module(mod, __name__)
        except ModuleNotFoundError:
            continue
        if hasattr(m, name):
            return getattr(m, name)
    raise AttributeError(f"module 'segmath.teaching.widgets' has no attribute {name!r}")
