"""Course material: synthetic data with exact ground truth, a small trainer, the book's explorers, and
``losses.resolve_loss`` (a loss named by id, catalogue entry or callable).

These serve the book and the notebooks; the library (losses, metrics, distances, symbolic, theory)
never imports them.  ``segmath.teaching.data``, ``segmath.teaching.train`` and
``segmath.teaching.widgets`` load on first use (the trainer imports torch, the widgets matplotlib).
"""
import importlib

_LAZY = ("data", "instances", "losses", "train", "widgets")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'segmath.teaching' has no attribute {name!r}")
