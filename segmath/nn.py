"""``torch.nn.Module`` wrappers, generated from the catalogue's losses.

``segmath.nn.DiceLoss(smooth=1.0)(logits, labels)`` is ``segmath.dice(logits, labels, smooth=1.0)``:
the module only stores keyword options; the formula lives in the function.
"""
from __future__ import annotations

import torch

from .catalogue import catalogue

__all__ = []


class CatalogueLoss(torch.nn.Module):
    """Base class: ``forward(input, target, *args)`` calls the catalogue function with the stored options."""
    fn = None

    def __init__(self, **options):
        super().__init__()
        self.options = options

    def forward(self, input, target, *args, **kwargs):
        return type(self).fn(input, target, *args, **{**self.options, **kwargs})

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


def module_name(entry_id: str) -> str:
    """``"lovasz_softmax"`` -> ``"LovaszSoftmaxLoss"``."""
    camel = "".join(part.capitalize() for part in entry_id.split("_"))
    return camel if camel.endswith("Loss") else camel + "Loss"


def _build():
    for entry in catalogue("loss"):
        name = module_name(entry.id)
        cls = type(name, (CatalogueLoss,), {
            "fn": staticmethod(entry.fn),
            "__doc__": f"Module form of :func:`segmath.{entry.id}` ({entry.name}).",
            "__module__": __name__,
        })
        globals()[name] = cls
        __all__.append(name)


_build()
