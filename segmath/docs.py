"""Shared argument documentation: write a common argument's description once.

A family of functions with the same options (the region losses, the surface metrics) keeps one
table of argument descriptions.  Each docstring writes ``{args}`` as the first line of its
``Args:`` section and describes explicitly only what is particular to it; :meth:`ArgDocs.fill`
then lists every parameter of the signature, in signature order, with the explicit description
where there is one and the table's otherwise (parameters in neither stay undocumented, as
before).  The result is an ordinary docstring: ``help()``, Sphinx and ``segmath.nn`` see it whole.

Example:
    >>> docs = ArgDocs(x="the input.", reduction='``"mean"`` or ``"sum"``.')
    >>> @docs.fill
    ... def f(x, *, scale=1.0, reduction="mean"):
    ...     '''Scaled sum.
    ...
    ...     Args:
    ...         {args}
    ...         scale: a factor.
    ...     '''
    >>> print(f.__doc__.split("Args:")[1].rstrip())
    <BLANKLINE>
            x: the input.
            scale: a factor.
            reduction: ``"mean"`` or ``"sum"``.
"""
from __future__ import annotations

import inspect
import re

__all__ = ["ArgDocs"]

_SLOT = "{args}"
_ENTRY = re.compile(r"^(\s*)([A-Za-z_][\w, ]*):(\s|$)")


class ArgDocs:
    """A table ``name -> description`` for the ``Args:`` sections of a family of functions."""

    def __init__(self, **descriptions: str):
        self.descriptions = dict(descriptions)

    def extend(self, **descriptions: str) -> "ArgDocs":
        """A new table with these entries added (or replaced)."""
        return ArgDocs(**{**self.descriptions, **descriptions})

    def fill(self, fn):
        """Decorator: render the ``{args}`` slot of ``fn``'s docstring (see the module docstring)."""
        doc = fn.__doc__ or ""
        if _SLOT not in doc:
            raise ValueError(f"{fn.__qualname__}'s docstring has no {_SLOT} slot in its Args section")
        head, tail = doc.split(_SLOT, 1)
        indent = head[head.rfind("\n") + 1:]
        block, rest = _split_block(tail, indent)
        explicit = _entries(block, indent)
        fn.__doc__ = head + self._render(fn, explicit, indent).lstrip() + rest
        return fn

    def _render(self, fn, explicit, indent):
        lines, done = [], set()
        for name in inspect.signature(fn).parameters:
            key = next((k for k in explicit if name in _names(k)), None)
            if key is not None and key not in done:
                lines.append(explicit[key])
                done.add(key)
            elif key is None and name in self.descriptions:
                lines.append(f"{indent}{name}: {self.descriptions[name]}")
        lines += [text for key, text in explicit.items() if key not in done]  # names not in the signature
        return "\n".join(lines)


def _names(key):
    return [k.strip() for k in key.split(",")]


def _split_block(tail, indent):
    """The explicit entries following the slot (lines indented at least ``indent``) and the rest."""
    lines = tail.split("\n")
    end = 1
    while end < len(lines) and lines[end].strip() and lines[end].startswith(indent):
        end += 1
    return "\n".join(lines[1:end]), "\n" + "\n".join(lines[end:])


def _entries(block, indent):
    """``{key: text}`` for every ``name: description`` entry (continuation lines included)."""
    entries, key = {}, None
    for line in block.split("\n") if block else []:
        match = _ENTRY.match(line)
        if match and len(match.group(1)) == len(indent):
            key = match.group(2)
            entries[key] = line
        elif key is not None:
            entries[key] += "\n" + line
    return entries
