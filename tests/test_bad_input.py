"""Bad input never yields a silent number (issue 9 section 5), for every catalogue entry.

Each entry's ``example(seed)`` is spoiled one way at a time: every option set to ``None``
and to an unknown string, wrong dtypes, out-of-range labels, bad spacing / weight /
connectivity, 1-D and 4-D inputs.  Each call must raise ``ValueError`` or ``TypeError``
whose message names the spoiled argument, or return the documented value.  The cases
are built from the entry's signature and example at collection time, so an entry is
covered the day it is registered.  Non-finite input is ``tests/test_nonfinite.py``'s.

``python tests/test_bad_input.py`` prints the size of the matrix and the failing cases.
"""
import inspect
import math

import numpy as np
import pytest

import segmath
from conftest import flat, to_torch

UNKNOWN = "no-such-option"

SWITCHED_OFF = "switched off"

#: (entry id or "*", option) -> (what None means, why): options whose default is not None but
#: where None has a documented meaning.  A value: the result must equal the call with it;
#: SWITCHED_OFF: None turns a term off, and the result must have the default call's shape.
NONE_MEANS = {
    ("*", "average"): ("none", "scikit-learn's average=None: one score per class, segmath's 'none'"),
    ("binary_cross_entropy", "activation"): ("sigmoid", "documented: 'sigmoid' or None, the only one it has"),
    ("dense_crf", "w_spatial"): (SWITCHED_OFF, "documented: None switches the spatial kernel off"),
    ("dense_crf", "w_bilateral"): (SWITCHED_OFF, "documented: None switches the bilateral kernel off"),
    ("*", "background"): (SWITCHED_OFF, "documented: None, no background: every instance id is an instance"),
}


def none_means(entry, option):
    return NONE_MEANS.get((entry.id, option), NONE_MEANS.get(("*", option)))


def positional(entry):
    """Names of the parameters the example passes positionally (the arrays)."""
    args, _ = entry.example(0)
    return list(inspect.signature(entry.fn).parameters)[:len(args)]


def options(entry):
    """The entry's options: keyword parameters after the positional arrays, with their defaults."""
    params = list(inspect.signature(entry.fn).parameters.values())[len(entry.example(0)[0]):]
    return {p.name: p.default for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def standard(entry):
    return positional(entry)[:2] == ["input", "target"]


def label_target(entry):
    args, _ = entry.example(0)
    return standard(entry) and np.issubdtype(np.asarray(args[1]).dtype, np.integer)


def spatial_rank(entry):
    args, kwargs = entry.example(0)
    if standard(entry):
        return args[0].ndim - 2
    spacing = kwargs.get("spacing")
    return len(spacing) if isinstance(spacing, tuple) else min(2, args[0].ndim)


# -- the cases: (name, spoil(args, kwargs) -> (args, kwargs), argument names one of which the error must name)

def _set(name, value):
    def spoil(args, kwargs):
        return args, {**kwargs, name: value}
    return spoil


def _replace_arg(i, fn):
    def spoil(args, kwargs):
        args = list(args)
        args[i] = fn(np.asarray(args[i]))
        return tuple(args), kwargs
    return spoil


def _with_label(value):
    def put(y):
        y = y.copy()
        y.reshape(-1)[3] = value
        return y
    return put


def _complex(x):
    """Complex values; a list of per-image dicts (instance_ap's format) gets complex ``masks``."""
    if x.dtype == object:
        return [{**d, "masks": np.asarray(d["masks"]).astype(np.complex128)} for d in x]
    return x.astype(np.complex128)


def _reshape_spatial(k, d):
    """The ``k`` spatial axes of the example -> ``d`` axes: 1-D flattens them, more axes repeat the
    data twice along each new axis (a valid image of that rank)."""
    def spoil(args, kwargs):
        args = tuple(_to_rank(a, a.ndim - k, d) if isinstance(a, np.ndarray) else a for a in args)
        if isinstance(kwargs.get("spacing"), tuple):
            kwargs = {**kwargs, "spacing": (kwargs["spacing"] + (1.0,) * d)[:d]}
        return args, kwargs
    return spoil


def _to_rank(a, lead, d):
    spatial = a.shape[lead:]
    if d < len(spatial):
        return a.reshape(a.shape[:lead] + (-1,))
    for _ in range(d - len(spatial)):
        a = np.repeat(a[..., None], 2, axis=-1)
    return a


def cases(entry):
    """All bad-input cases of ``entry``: (case name, spoil, names the error may name, check of a returned value)."""
    args, kwargs = entry.example(0)
    first = positional(entry)[0]
    opts = options(entry)
    out = []
    for name, default in opts.items():
        if default is not None:   # None is the default otherwise: documented by the signature
            out.append((f"{name}=None", _set(name, None), (name,), none_means(entry, name)))
        out.append((f"{name}={UNKNOWN!r}", _set(name, UNKNOWN), (name,), None))
    out.append(("complex input", _replace_arg(0, _complex), (first,), None))
    if standard(entry):
        out.append(("bool input", _replace_arg(0, lambda x: x > 0), ("input", "target", "num_classes"), None))
    if label_target(entry):
        c = max(args[0].shape[1], 2)
        out.append(("float label target", _replace_arg(1, lambda y: y.astype(np.float64)), ("target",), None))
        out.append((f"label {c} (out of range)", _replace_arg(1, _with_label(c)), ("target",), None))
        out.append(("label -3", _replace_arg(1, _with_label(-3)), ("target",), None))
    if "spacing" in opts:
        d = spatial_rank(entry)
        # one entry too many; for a transform, whose spatial rank follows len(spacing), more than the mask has
        too_long = (1.0,) * ((d if standard(entry) else args[0].ndim) + 1)
        for bad in ("1.5", -1.0, 0.0, math.nan, too_long, [1.0, "a"][:d] + [1.0] * (d - 2)):
            out.append((f"spacing={bad!r}", _set("spacing", bad), ("spacing",), None))
    if "weight" in opts and standard(entry):
        c = max(args[0].shape[1], 2)   # one channel: two classes (negative, positive)
        for bad in ([-1.0] + [1.0] * (c - 1), [1.0] * (c + 1), "abc", [math.nan] * c, [0.0] * c):
            out.append((f"weight={bad!r}", _set("weight", bad), ("weight",), None))
    if "connectivity" in opts or "connectivity" in positional(entry):
        for bad in (-1, 0, 7, 1.5):
            out.append((f"connectivity={bad!r}", _set("connectivity", bad), ("connectivity",), None))
    if standard(entry) or isinstance(kwargs.get("spacing"), tuple):
        for d in (1, 4):
            out.append((f"{d}-D input", _reshape_spatial(spatial_rank(entry), d), (first, "input", "spacing", *opts), "same-rank"))
    return out


ENTRIES = segmath.catalogue()
CASES = [(e, name, spoil, names, check) for e in ENTRIES for name, spoil, names, check in cases(e)]
BACKENDS = ("numpy", "torch")


def run(entry, backend, spoil):
    args, kwargs = spoil(*entry.example(0))
    if backend == "torch":
        args, kwargs = to_torch(args), to_torch(kwargs)
    return entry.fn(*args, **kwargs)


def outcome(entry, backend, name, spoil, names, check):
    """None when the case behaves (a named ValueError/TypeError or the documented value), else why not."""
    try:
        result = run(entry, backend, spoil)
    except (ValueError, TypeError) as err:
        if any(n in str(err) for n in names):
            return None
        return f"{type(err).__name__} not naming {names[0]!r}: {err}"
    except Exception as err:  # noqa: BLE001 (an internal error is what this test exists to catch)
        return f"internal {type(err).__name__}: {err}"
    if check is None:
        return f"accepted, returned {np.asarray(flat(result)).ravel()[:4]}"
    if check == "same-rank":
        return _same_value_on_any_rank(entry, backend, name, result)
    value, _ = check
    if value == SWITCHED_OFF:
        expected = run(entry, backend, lambda a, k: (a, k))
        ok = np.shape(flat(result)) == np.shape(flat(expected)) and np.isfinite(flat(result)).all()
        return None if ok else f"None (switched off) gave {np.asarray(flat(result)).ravel()[:4]}"
    expected = run(entry, backend, _set(name.split("=")[0], value))
    if not np.allclose(flat(result), flat(expected), equal_nan=True):
        return f"None does not mean {value!r}"
    return None


def _same_value_on_any_rank(entry, backend, name, result):
    """A supported rank returns numbers; a count metric's value depends on the counts only,
    so flattening or repeating the images must not change it."""
    got = np.asarray(flat(result), dtype=float)
    if not hasattr(entry.fn, "from_counts") or name.startswith("4"):
        return None   # repeating along new axes changes distances and shapes: only the counts stay
    args, kwargs = entry.example(0)
    if backend == "torch":
        args, kwargs = to_torch(args), to_torch(kwargs)
    ref = np.asarray(flat(entry.fn(*args, **kwargs)), dtype=float)
    if not np.allclose(got, ref, equal_nan=True, rtol=1e-12):
        return f"{name} changes the value of a count metric: {got.ravel()[:3]} vs {ref.ravel()[:3]}"
    return None


def case_id(case):
    entry, name = case[0], case[1]
    return f"{entry.id}-{name}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_bad_input_is_named_or_documented(case, backend):
    entry, name, spoil, names, check = case
    problem = outcome(entry, backend, name, spoil, names, check)
    assert problem is None, f"{entry.id}({name}, {backend}): {problem}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_every_entry_and_option_is_in_the_matrix(entry):
    names = [c[1] for c in CASES if c[0] is entry]
    assert any("input" in n for n in names)
    for option in options(entry):
        assert f"{option}={UNKNOWN!r}" in names, option


def test_none_allow_list_is_small_and_used():
    used = {(e.id, o) for e in ENTRIES for o, d in options(e).items() if d is not None}
    for eid, option in NONE_MEANS:
        assert any(o == option and eid in ("*", i) for i, o in used), f"unused allow-list entry {eid}.{option}"
    assert len(NONE_MEANS) <= 5


if __name__ == "__main__":
    failed = [(case_id(c), b, outcome(c[0], b, *c[1:])) for c in CASES for b in BACKENDS]
    bad = [f for f in failed if f[2] is not None]
    print(f"{len(failed)} calls ({len(CASES)} cases x {len(BACKENDS)} backends), {len(bad)} fail")
    for cid, b, why in bad:
        print(f"  {cid} [{b}]: {why[:160]}")
