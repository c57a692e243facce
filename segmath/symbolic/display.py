r"""The catalogue's displayed formula of an entry with a SymPy form: its ``sympy.latex``.

Parameters print under the names the book uses (``smooth`` as :math:`s`, ``exponent`` as
:math:`q`, ``weight`` as :math:`w_k`); an aggregate is printed in its statistics, followed by
their definitions as pixel sums.
"""
from __future__ import annotations

import functools
import re

import sympy as sp

from ..catalogue import get as _get
from .parse import P, Y, compact, multiclass_display

_DISPLAY = {"smooth": "s", "exponent": "q"}
_PIXEL_I = {P: sp.Symbol("p_i"), Y: sp.Symbol("y_i")}


def _names(c):
    """symbol_names for sympy.latex: book notation for parameters and statistics."""
    out = {s: _DISPLAY[k] for k, s in c.params.items() if k in _DISPLAY and not isinstance(s, tuple)}
    for sym in (c.stats or {}):
        base, _, sub = sym.name.partition("_")
        out[sym] = f"{base}_{{{sub}}}" if sub else base
    return out


def _latex(expr, names):
    # order="old" keeps the written order, so 1 - x prints as 1 - x rather than -x + 1
    return sp.latex(expr, symbol_names=names, order="old")


def _summand(h, names):
    text = _latex(h.subs(_PIXEL_I), names)
    return r"\left(%s\right)" % text if isinstance(h, sp.Add) else text


def _when(form):
    if not form.when:
        return ""
    args = ",\\ ".join(r"\texttt{%s=%s}" % (k, repr(v).replace("'", '"').replace("_", r"\_"))
                       for k, v in form.when.items())
    return r"\quad(" + args + ")"


_WIDE = 50   # glyphs on one displayed line, so that a catalogue block fits the page


_LAYOUT = {"left", "right", "frac", "quad", "texttt", "text"}


def _width(tex):
    """Rough number of glyphs of a LaTeX string: a symbol command is one, layout commands, braces
    and script markers none (a fraction counts both its parts: errs towards more lines)."""
    tex = re.sub(r"\\([a-zA-Z]+)", lambda m: "" if m.group(1) in _LAYOUT else "x", tex)
    return len(re.sub(r"[{}^_ ]", "", tex))


def _equation(lhs, expr, names, tail=""):
    """``lhs expr`` as one line, or, when that would be too wide, an ``aligned`` block that breaks
    it before each top-level ``+``/``-``: the continued terms indented under the right-hand side,
    not centred like the other lines of the ``gathered`` display."""
    text = _latex(expr, names)
    if _width(lhs + text) <= _WIDE or not isinstance(expr, sp.Add):
        return [lhs + text + tail]
    terms = [_latex(t, names) for t in sp.Add.make_args(expr)]
    rows = [lhs.rstrip()[:-1] + "&= " + terms[0]]     # lhs ends in "=": align there
    rows += [r"&\quad " + (t if t.startswith("-") else "+ " + t) for t in terms[1:]]
    rows[-1] += tail
    return ["\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"]


def _packed(defs):
    """Definitions joined by commas, as many per line as fit."""
    lines = []
    for d in defs:
        if lines and _width(lines[-1] + d) <= _WIDE:
            lines[-1] += r",\quad " + d
        else:
            lines.append(d)
    return lines


def _lines(entry, form):
    """The form's equation, then its statistics' definitions, in lines that fit a page."""
    name = entry.id + (f":{form.label}" if form.label else "")
    c = compact(name, 3)
    names = _names(c)
    tail = _when(form) + (r"\quad\text{(%s)}" % form.label if form.label else "")
    if c.family == "aggregate":
        defs = [f"{names[s]} = \\sum_i {_summand(h, names)}" for s, h in c.stats.items() if h != 1]
        return _equation("L = ", c.expr, names, tail) + _packed(defs)
    if c.family == "multiclass":
        expr, legend = multiclass_display(name)
        names.update({s: s.name for s in legend})
        pixel = {P: sp.Symbol("p_{ic}"), Y: sp.Symbol("y_{ic}")}
        defs = [f"{s.name} = \\sum_i {_summand(h.subs(pixel), names)}" for s, h in legend.items() if h != 1]
        return _equation("L = ", expr, names, tail) + _packed(defs)
    if c.family == "pixel":
        return [r"L = \sum_i \ell(p_i, y_i)" + tail] + _equation(r"\ell(p, y) = ", c.expr, names)
    term = compact(name, 1).expr.subs({sp.Symbol("p_1", positive=True): sp.Symbol("p_c"),
                                        sp.Symbol("y_1", real=True): sp.Symbol("y_c"),
                                        sp.Symbol("w_1", positive=True): sp.Symbol("w_c")})
    return [r"L = \sum_i \sum_c \ell_c(p_i, y_i)" + tail] + _equation(r"\ell_c = ", term, names)


@functools.lru_cache(maxsize=None)
def formula(id: str) -> str:
    """LaTeX of an entry's SymPy forms: each form's equation, its statistics, and the arguments
    under which it holds (a ``gathered`` block when that takes several lines)."""
    entry = _get(id)
    if not entry.forms:
        raise ValueError(f"{id!r} has no SymPy form")
    lines = [line for f in entry.forms for line in _lines(entry, f)]
    if len(lines) == 1:
        return lines[0]
    return "\\begin{gathered}\n" + " \\\\\n".join(lines) + "\n\\end{gathered}"


def describe(name: str) -> str:
    """One line: the entry, the form's text, and the arguments under which it holds."""
    from .parse import entry_form
    entry, form = entry_form(name)
    when = ", ".join(f"{k}={v!r}" for k, v in form.when.items())
    return f"{entry.name} ({form.family}): {form.text}" + (f"  [{when}]" if when else "")
