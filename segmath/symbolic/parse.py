r"""From the text of a catalogue :class:`~segmath.catalogue.Form` to a SymPy expression.

A form names the function's own keyword parameters; they become positive symbols of the same
name (per-class ones a tuple ``w_0, w_1, ...``), and their defaults are read from the function's
signature.  An aggregate form is written in pixel sums (statistics): the named ones below, or
``sum_i(h)`` for any per-pixel summand ``h(p, y)``.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import sympy as sp
from sympy.parsing.sympy_parser import auto_number, parse_expr

from ..catalogue import catalogue as _catalogue
from ..catalogue import get as _get


class sigmoid(sp.Function):
    r"""The logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})`, kept unevaluated.

    Its derivative is :math:`\sigma(z)(1 - \sigma(z))`; ``expr.rewrite(sp.exp)`` expands it.
    """
    nargs = 1

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        return True if self.args[0].is_real else None

    def _latex(self, printer, exp=None):
        base = r"\sigma\left(%s\right)" % printer._print(self.args[0])
        return base if exp is None else r"%s^{%s}" % (base, exp)


P, Y = sp.Symbol("p", real=True), sp.Symbol("y", real=True)   # one pixel's probability and target

# the named statistics T = sum_i h(p_i, y_i): symbol -> summand h(p, y)
STATS = {
    sp.Symbol("TP", real=True): P * Y,
    sp.Symbol("FP", real=True): P * (1 - Y),
    sp.Symbol("FN", real=True): (1 - P) * Y,
    sp.Symbol("TN", real=True): (1 - P) * (1 - Y),
    sp.Symbol("I", real=True): P * Y,
    sp.Symbol("S_p", real=True): P,
    sp.Symbol("S_y", real=True): Y,
    sp.Symbol("Q_p", real=True): P ** 2,
    sp.Symbol("Q_y", real=True): Y ** 2,
    sp.Symbol("L_1", real=True): sp.Abs(P - Y),
    sp.Symbol("n", positive=True): sp.Integer(1),
    sp.Symbol("E_1", real=True): (Y - P) ** 2 * Y,
    sp.Symbol("E_0", real=True): (Y - P) ** 2 * (1 - Y),
}
_FUNCTIONS = {"log": sp.log, "exp": sp.exp, "sqrt": sp.sqrt, "cosh": sp.cosh, "tanh": sp.tanh, "Abs": sp.Abs,
              "Integer": sp.Integer, "Float": sp.Float, "Rational": sp.Rational}
_SKIP = ("input", "target")
_VECTOR_LETTER = {"weight": "w"}


@dataclass(frozen=True)
class Compact:
    """A form as SymPy: ``expr`` in ``p``/``y`` (pixel), ``p_c``/``y_c`` (softmax, ``probs``,
    ``targets``), or the statistics (aggregate, ``stats``: symbol -> summand in ``p``, ``y``;
    multiclass: the same per class, ``classes``: symbol -> class);
    ``params``: keyword -> symbol (a tuple for a per-class parameter)."""
    family: str
    expr: sp.Expr
    params: dict
    probs: tuple = ()
    targets: tuple = ()
    stats: dict = None
    classes: dict = None      # multiclass: statistic symbol -> its class (0-based)


class _Vector:
    """A per-class parameter in a binary form: ``weight[k]`` is the symbol ``w_k``."""

    def __init__(self, name, used):
        self.name, self.used = name, used

    def __getitem__(self, k):
        sym = sp.Symbol(f"{_VECTOR_LETTER.get(self.name, self.name)}_{int(k)}", positive=True)
        self.used[int(k)] = sym
        return sym


def entry_form(name: str):
    """(entry, form) for ``"id"`` (the entry's main form) or ``"id:label"``."""
    id, _, label = name.partition(":")
    try:
        entry = _get(id)
    except KeyError:
        raise ValueError(f"name must be one of {', '.join(names())}; got {name!r}") from None
    for form in entry.forms:
        if form.label == label:
            return entry, form
    raise ValueError(f"name must be one of {', '.join(names())}; got {name!r}")


def names() -> tuple:
    """Every symbolic form's name: the entry id, ``id:label`` for an entry's further forms."""
    return tuple(e.id + (f":{f.label}" if f.label else "") for e in _catalogue("loss") for f in e.forms)


def keywords(fn) -> dict:
    """The function's keyword parameters and their defaults (``inspect.Parameter.empty`` if none)."""
    return {k: v.default for k, v in inspect.signature(fn).parameters.items() if k not in _SKIP}


def defaults(name: str) -> dict:
    """Numeric defaults, from the signature, of the parameters the form uses."""
    entry, _ = entry_form(name)
    kw = keywords(entry.fn)
    return {k: kw[k] for k in compact(name).params
            if isinstance(kw[k], (int, float)) and not isinstance(kw[k], bool)}


def _parse(text, namespace, where):
    try:
        return parse_expr(text, local_dict=dict(namespace), global_dict=dict(_FUNCTIONS),
                          transformations=(auto_number,))
    except NameError as exc:
        raise ValueError(f"the SymPy form of {where} uses an unknown name ({exc})") from None


def _scalars(fn, exclude):
    return {k: sp.Symbol(k, positive=True) for k in keywords(fn) if k not in exclude}


@functools.lru_cache(maxsize=None)
def compact(name: str, classes: int = 3) -> Compact:
    """The parsed form ``name`` (``classes`` only matters for a softmax form)."""
    entry, form = entry_form(name)
    if form.family == "softmax":
        return _softmax(entry, form, name, classes)
    if form.family == "multiclass":
        return _multiclass(entry, form, name, classes)
    scalars = _scalars(entry.fn, form.per_class)
    vectors = {k: {} for k in form.per_class}
    ns = {**scalars, **{k: _Vector(k, used) for k, used in vectors.items()}}
    if form.family == "pixel":
        expr = _parse(form.text, {**ns, "p": P, "y": Y}, name)
        return Compact("pixel", expr, _used(expr, scalars, vectors), (P,), (Y,))
    stats = {}

    def sum_i(h):
        sym = sp.Symbol(f"T_{len(stats) + 1}", real=True)
        stats[sym] = sp.sympify(h)
        return sym

    named = {s.name: s for s in STATS}
    expr = _parse(form.text, {**ns, **named, "sum_i": sum_i, "p": P, "y": Y}, name)
    table = {s: STATS[s] for s in STATS if s in expr.free_symbols}
    table.update({s: h for s, h in stats.items() if s in expr.free_symbols})
    free = set().union(*(h.free_symbols for h in table.values())) | expr.free_symbols
    return Compact("aggregate", expr, _used(free, scalars, vectors), (P,), (Y,), table)


def _softmax(entry, form, name, classes):
    p = sp.symbols(f"p_1:{classes + 1}", positive=True)
    y = sp.symbols(f"y_1:{classes + 1}", real=True)
    scalars = _scalars(entry.fn, form.per_class)
    vectors = {k: sp.symbols(f"{_VECTOR_LETTER.get(k, k)}_1:{classes + 1}", positive=True) for k in form.per_class}
    terms = [_parse(form.text, {**scalars, **{k: v[c] for k, v in vectors.items()}, "p": p[c], "y": y[c]}, name)
             for c in range(classes)]
    expr = sp.Add(*terms)
    free = expr.free_symbols
    params = {k: s for k, s in scalars.items() if s in free}
    params.update({k: v for k, v in vectors.items() if set(v) & free})
    return Compact("softmax", expr, params, p, y)


def _used(free, scalars, vectors):
    free = free.free_symbols if isinstance(free, sp.Basic) else free
    params = {k: s for k, s in scalars.items() if s in free}
    for k, used in vectors.items():
        if used:
            letter = _VECTOR_LETTER.get(k, k)
            params[k] = tuple(sp.Symbol(f"{letter}_{i}", positive=True) for i in range(max(used) + 1))
    return params


def _class_symbol(generic, c):
    """Class ``c``'s copy of a statistic: ``S_p`` -> ``S_{p,2}`` (1-based in the name)."""
    base, _, sub = generic.name.partition("_")
    return sp.Symbol(f"{base}_{{{sub},{c + 1}}}" if sub else f"{base}_{c + 1}", **generic.assumptions0)


def _multiclass(entry, form, name, classes):
    scalars = _scalars(entry.fn, form.per_class)
    vectors = {k: sp.symbols(f"{_VECTOR_LETTER.get(k, k)}_1:{classes + 1}", positive=True) for k in form.per_class}
    placeholders = {k: sp.Symbol(f"_{k}") for k in form.per_class}     # class c's value inside sum_c
    generic, stats, owner = dict(STATS), {}, {}

    def sum_i(h):
        sym = sp.Symbol(f"T_{len(generic) - len(STATS) + 1}", real=True)
        generic[sym] = sp.sympify(h)
        return sym

    def sum_c(e):
        terms = []
        for c in range(classes):
            subs = {k: v[c] for k, v in zip(placeholders.values(), vectors.values())}
            for g in set(sp.sympify(e).free_symbols) & set(generic):
                sym = _class_symbol(g, c)
                stats[sym], owner[sym], subs[g] = generic[g], c, sym
            terms.append(sp.sympify(e).subs(subs, simultaneous=True))
        return sp.Add(*terms)

    ns = {**scalars, **placeholders, **{s.name: s for s in STATS}, "sum_i": sum_i, "sum_c": sum_c,
          "mean_c": lambda e: sum_c(e) / classes, "p": P, "y": Y}
    expr = _parse(form.text, ns, name)
    stray = expr.free_symbols & (set(generic) | set(placeholders.values()))
    if stray:
        raise ValueError(f"the SymPy form of {name} uses {sorted(map(str, stray))} outside sum_c/mean_c")
    free = expr.free_symbols | set().union(*(h.free_symbols for h in stats.values()))
    params = {k: s for k, s in scalars.items() if s in free}
    params.update({k: v for k, v in vectors.items() if set(v) & free})
    table = {s: stats[s] for s in stats if s in expr.free_symbols}
    return Compact("multiclass", expr, params, (P,), (Y,), table, {s: owner[s] for s in table})


def multiclass_display(name: str):
    """(expr, legend) of a multi-class form for display: ``sum_c`` as a SymPy ``Sum`` over a
    symbolic class ``c``, statistics as ``S_{p,c}``; ``legend``: statistic -> summand in ``p``, ``y``."""
    entry, form = entry_form(name)
    c, C = sp.Symbol("c", integer=True, positive=True), sp.Symbol("C", integer=True, positive=True)
    scalars = _scalars(entry.fn, form.per_class)
    per_class = {k: sp.Symbol(f"{_VECTOR_LETTER.get(k, k)}_c", positive=True) for k in form.per_class}
    generic, legend = dict(STATS), {}

    def sum_i(h):
        sym = sp.Symbol(f"T_{len(generic) - len(STATS) + 1}", real=True)
        generic[sym] = sp.sympify(h)
        return sym

    def sum_c(e):
        subs = {}
        for g in set(sp.sympify(e).free_symbols) & set(generic):
            base, _, sub = g.name.partition("_")
            sym = sp.Symbol(f"{base}_{{{sub},c}}" if sub else f"{base}_c", **g.assumptions0)
            legend[sym], subs[g] = generic[g], sym
        return sp.Sum(sp.sympify(e).subs(subs, simultaneous=True), (c, 1, C))

    ns = {**scalars, **per_class, **{s.name: s for s in STATS}, "sum_i": sum_i, "sum_c": sum_c,
          "mean_c": lambda e: sum_c(e) / C, "p": P, "y": Y}
    return _parse(form.text, ns, name), legend
