"""``torch.nn.Module`` forms of the catalogue's losses, generated from the functions.

``segmath.nn.DiceLoss(smooth=1.0)(logits, labels)`` is ``segmath.dice(logits, labels, smooth=1.0)``.
A module is a thin shell over its function: it checks and stores keyword options when it is built and
passes them on every call, so the formula, the defaults and the docs live in the function alone.

- signature: the function's keyword options with the function's defaults (``inspect.signature``);
- docstring: the function's, under one line saying how module and function relate;
- an option the function does not take, or a required one left out, is a ``TypeError`` at construction;
- tensor options (``weight``, ``alpha`` ...) are non-persistent buffers, so ``.to(device)`` moves them.
"""
from __future__ import annotations

import inspect

import torch

from .catalogue import catalogue

__all__ = ["CatalogueLoss", "module_name"]

_DATA = 2  # every loss takes (input, target) first; the rest are options


class CatalogueLoss(torch.nn.Module):
    """Base class: ``forward(input, target)`` calls :attr:`fn` with the options given at construction."""
    fn = None
    option_names: tuple = ()
    required: tuple = ()

    def __init__(self, **options):
        super().__init__()
        name = type(self).__name__
        unknown = [k for k in options if k not in self.option_names]
        if unknown:
            raise TypeError(f"{name}() got unknown option(s) {', '.join(map(repr, unknown))}; "
                            f"it takes {', '.join(self.option_names)}")
        missing = [k for k in self.required if k not in options]
        if missing:
            raise TypeError(f"{name}() missing required option(s) {', '.join(map(repr, missing))}")
        self.options = {k: v for k, v in options.items() if not isinstance(v, torch.Tensor)}
        self._tensor_options = tuple(k for k, v in options.items() if isinstance(v, torch.Tensor))
        for k in self._tensor_options:
            self.register_buffer(k, options[k], persistent=False)

    def call_options(self) -> dict:
        """The keyword options passed to :attr:`fn`, tensors as they are now (after ``.to(...)``)."""
        return {**self.options, **{k: getattr(self, k) for k in self._tensor_options}}

    def forward(self, input, target):
        return type(self).fn(input, target, **self.call_options())

    def extra_repr(self):
        shown = {**self.options, **{k: f"tensor(shape={tuple(getattr(self, k).shape)})"
                                    for k in self._tensor_options}}
        return ", ".join(f"{k}={v if k in self._tensor_options else repr(v)}" for k, v in shown.items())


def module_name(entry_id: str) -> str:
    """``"lovasz_softmax"`` -> ``"LovaszSoftmaxLoss"``."""
    camel = "".join(part.capitalize() for part in entry_id.split("_"))
    return camel if camel.endswith("Loss") else camel + "Loss"


def option_parameters(fn) -> list[inspect.Parameter]:
    """The keyword options of a loss function: its parameters after ``(input, target)``, keyword-only."""
    params = list(inspect.signature(fn).parameters.values())[_DATA:]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        raise TypeError(f"{fn.__name__}: a catalogue loss takes named options only, not *args/**kwargs")
    return [p.replace(kind=p.KEYWORD_ONLY) for p in params]


def _module_class(entry) -> type:
    name, params = module_name(entry.id), option_parameters(entry.fn)

    def __init__(self, **options):
        CatalogueLoss.__init__(self, **options)

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = inspect.Signature([self_param, *params])
    __init__.__qualname__ = f"{name}.__init__"
    __init__.__doc__ = f"Store the options of :func:`segmath.{entry.id}`; unknown ones are a ``TypeError``."
    header = (f"Module form of :func:`segmath.{entry.id}` ({entry.name}): ``{name}(**options)(input, target)`` "
              f"is ``segmath.{entry.id}(input, target, **options)``.\n\n")
    return type(name, (CatalogueLoss,), {
        "fn": staticmethod(entry.fn),
        "option_names": tuple(p.name for p in params),
        "required": tuple(p.name for p in params if p.default is p.empty),
        "__init__": __init__,
        "__doc__": header + (inspect.getdoc(entry.fn) or ""),
        "__module__": __name__,
        "__qualname__": name,
    })


def _build():
    for entry in catalogue("loss"):
        cls = _module_class(entry)
        globals()[cls.__name__] = cls
        __all__.append(cls.__name__)


_build()
