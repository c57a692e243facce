"""A NaN never becomes a number (issue 9 section 2), for every catalogue entry.

Each entry's example gets one non-finite value (NaN, then +inf) in its floating prediction
``args[0]``.  With value checks on the call must raise ``ValueError`` naming that argument;
with them off a NaN must reach the result (as ``torch.nn.functional.cross_entropy`` lets it),
and an inf may give any value but must not crash with an internal error.

``python tests/test_nonfinite.py`` prints how many calls returned a finite number for a NaN
input (the measurement behind issue 9).
"""
import inspect

import numpy as np
import pytest

import segmath
from conftest import flat, to_torch
from segmath.validation import value_checks

ENTRIES = [e for e in segmath.catalogue() if np.asarray(e.example(0)[0][0]).dtype.kind == "f"]
BAD = {"nan": float("nan"), "inf": float("inf")}
POSITION = 7  # a flat index inside every example (no entry's example is smaller)


def first_name(entry):
    return next(iter(inspect.signature(entry.fn).parameters))


def poisoned_call(entry, backend, value):
    """Run ``entry`` on its example with ``args[0].flat[POSITION] = value``."""
    args, kwargs = entry.example(0)
    x = np.array(args[0], dtype=float, copy=True)
    x.reshape(-1)[POSITION] = value
    args = (x,) + tuple(args[1:])
    if backend == "torch":
        args, kwargs = to_torch(args), to_torch(kwargs)
    return entry.fn(*args, **kwargs)


def outcome(entry, backend, checks, value):
    """'raises-named', 'raises-other: ...', 'nan' (the result holds a NaN), 'nonfinite' or 'finite'."""
    try:
        with value_checks(checks):
            result = poisoned_call(entry, backend, BAD[value])
    except ValueError as err:
        return "raises-named" if first_name(entry) in str(err) else f"raises-other: {err}"
    except Exception as err:  # noqa: BLE001 (recorded: an internal error is a failure too)
        return f"raises-other: {type(err).__name__}: {err}"
    v = flat(result)
    if np.isnan(v).any():
        return "nan"
    return "finite" if np.isfinite(v).all() else "nonfinite"


CASES = [(e, b, v) for e in ENTRIES for b in ("numpy", "torch") for v in BAD]


def case_id(case):
    e, b, v = case
    return f"{e.id}-{b}-{v}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_checks_on_reject_nonfinite_input(case):
    entry, backend, value = case
    assert outcome(entry, backend, True, value) == "raises-named"


#: entries whose result dtype cannot hold a NaN (documented in their docstrings)
NO_NAN_DTYPE = {"confusion_matrix": "int64 pixel counts (normalize=None)", "boundary": "a bool mask"}


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_checks_off_let_nan_through(case):
    entry, backend, value = case
    got = outcome(entry, backend, False, value)
    if value == "nan" and entry.id in NO_NAN_DTYPE:
        with value_checks(False):
            result = poisoned_call(entry, backend, BAD[value])
        kind = (result.detach().cpu().numpy() if hasattr(result, "detach") else np.asarray(result)).dtype.kind
        assert got == "nan" or kind in "biu", got
    elif value == "nan":
        assert got == "nan"
    else:  # an inf logit can be meaningful (sigmoid(inf) = 1): only an internal crash fails
        assert not got.startswith("raises-other"), got


def summary():
    """Count, over entry x backend x checks, the calls giving a finite number for one NaN."""
    rows = [(e.id, e.kind, b, c, outcome(e, b, c, "nan")) for e in ENTRIES
            for b in ("numpy", "torch") for c in (True, False)]
    finite = [r for r in rows if r[4] == "finite"]
    print(f"{len(finite)} of {len(rows)} calls return a finite number with one NaN in the prediction")
    for kind in ("loss", "metric", "transform"):
        ids = sorted({r[0] for r in finite if r[1] == kind})
        print(f"  {kind}: {len([r for r in finite if r[1] == kind])} calls; {', '.join(ids)}")
    return finite


if __name__ == "__main__":
    import sys
    sys.path.insert(0, "tests")
    summary()
