"""One way to name a loss in the course material: a catalogue id, a catalogue entry or a callable.

Students pick a surrogate in whichever form the text just showed them — ``"cross_entropy"`` (the lab's
style), ``segmath.get("focal")`` or an entry of ``segmath.catalogue("loss")`` (the project's hint),
``segmath.dice``, ``functools.partial(segmath.focal, gamma=3.0)`` or their own ``lambda``.  The trainer
and the project notebooks call :func:`resolve_loss` so that every one of these works and gets a label
for tables.
"""
from __future__ import annotations

import functools

__all__ = ["resolve_loss", "loss_label"]


def loss_label(fn) -> str:
    """A short label for a loss callable: its catalogue id, or its name, with a partial's arguments.

    Example:
        >>> import functools, segmath
        >>> loss_label(segmath.dice), loss_label(functools.partial(segmath.focal, gamma=3.0))
        ('dice', 'focal(gamma=3.0)')
    """
    if isinstance(fn, functools.partial):
        args = [repr(a) for a in fn.args] + [f"{k}={v!r}" for k, v in fn.keywords.items()]
        return f"{loss_label(fn.func)}({', '.join(args)})"
    name = getattr(fn, "catalogue_id", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return "lambda" if name == "<lambda>" else name


def resolve_loss(loss, argument: str = "loss"):
    """``(label, callable)`` for a loss given as a catalogue id, a catalogue ``Entry`` or a callable.

    Args:
        loss: ``"focal"``; ``segmath.get("focal")``; ``segmath.focal``; ``functools.partial(segmath.focal,
            gamma=3.0)``; any callable ``loss(logits, labels, **kwargs) -> scalar``.
        argument: the name used in error messages (the caller's parameter name).

    Raises:
        ValueError: an id or entry that is not a loss, or an unknown id (the message lists the loss ids).
        TypeError: anything else (``None``, a number, a metric's score array ...).

    Example:
        >>> import segmath
        >>> resolve_loss("dice")[0], resolve_loss(segmath.get("focal"))[1] is segmath.focal
        ('dice', True)
    """
    from ..catalogue import Entry, catalogue
    if isinstance(loss, Entry):
        entry = loss
    elif isinstance(loss, str):
        known = {e.id: e for e in catalogue()}
        if loss not in known:
            losses = ", ".join(e.id for e in catalogue("loss"))
            raise ValueError(f"{argument}: no catalogue entry {loss!r}; the loss ids are {losses}")
        entry = known[loss]
    elif callable(loss):
        return loss_label(loss), loss
    else:
        raise TypeError(f"{argument} must be a catalogue loss id, a catalogue Entry or a callable "
                        f"loss(logits, labels), got {type(loss).__name__}")
    if entry.kind != "loss":
        raise ValueError(f"{argument} must be a loss; {entry.id!r} is a {entry.kind}")
    return entry.id, entry.fn
