"""Catalogue-wide tests: every registered entry is tested the moment it is registered.

Parity NumPy vs torch (float64), gradcheck for losses, numerics at extreme logits and
under bfloat16 autocast, and the bad-input contract (clear ValueError/TypeError naming
the argument) for every function with the standard ``(input, target, ...)`` signature.
"""
import inspect

import numpy as np
import pytest
import torch

import segmath
from conftest import flat, to_torch

ENTRIES = segmath.catalogue()
LOSSES = [e for e in ENTRIES if e.kind == "loss"]
DIFFERENTIABLE = [e for e in LOSSES if e.differentiable]


def ids(entries):
    return [e.id for e in entries]


def params(entry):
    return inspect.signature(entry.fn).parameters


def standard(entry):
    """Entries taking (input, target, ...) with a float prediction first."""
    names = list(params(entry))
    return names[:2] == ["input", "target"]


STANDARD = [e for e in ENTRIES if standard(e)]
FROM_LOGITS = [e for e in DIFFERENTIABLE if "from_logits" in params(e)]


def test_catalogue_has_unique_ids_and_metadata():
    seen = set()
    for e in ENTRIES:
        assert e.id not in seen
        seen.add(e.id)
        assert e.name and e.fn.__doc__, f"{e.id} needs a name and a docstring"
        assert e.kind in ("loss", "metric", "transform")


@pytest.mark.parametrize("entry", ENTRIES, ids=ids(ENTRIES))
@pytest.mark.parametrize("seed", [0, 1])
def test_numpy_and_torch_agree(entry, seed):
    args, kwargs = entry.example(seed)
    a = flat(entry.fn(*args, **kwargs))
    b = flat(entry.fn(*to_torch(args), **to_torch(kwargs)))
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, equal_nan=True)


@pytest.mark.parametrize("entry", ENTRIES, ids=ids(ENTRIES))
def test_result_kind_follows_input(entry):
    args, kwargs = entry.example(0)
    out = entry.fn(*to_torch(args), **to_torch(kwargs))
    leaves = out.values() if isinstance(out, dict) else (out if isinstance(out, (tuple, list)) else [out])
    assert any(isinstance(v, torch.Tensor) for v in leaves), "torch input must give torch output"


@pytest.mark.parametrize("entry", DIFFERENTIABLE, ids=ids(DIFFERENTIABLE))
@pytest.mark.slow
def test_gradcheck(entry):
    args, kwargs = entry.example(0)
    rest = to_torch(args[1:])
    kw = to_torch(kwargs)

    def f(x):
        out = entry.fn(x, *rest, **kw)
        return out if out.ndim == 0 else out.sum()

    x = to_torch(args[0], torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("entry", FROM_LOGITS, ids=ids(FROM_LOGITS))
@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_finite_at_extreme_logits_float32(entry, scale):
    args, kwargs = entry.example(0)
    x = to_torch(np.sign(args[0]) * abs(scale) if scale > 0 else -np.sign(args[0]) * abs(scale), torch.float32,
                 requires_grad=True)
    out = entry.fn(x, *to_torch(args[1:]), **to_torch(kwargs))
    total = out.sum()
    assert torch.isfinite(total), f"{entry.id} gives {total} at logits {scale:g}"
    total.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("entry", FROM_LOGITS, ids=ids(FROM_LOGITS))
def test_bfloat16_autocast(entry):
    args, kwargs = entry.example(0)
    x = to_torch(args[0], torch.float32, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = entry.fn(x.to(torch.bfloat16), *to_torch(args[1:]), **to_torch(kwargs)).sum()
    assert torch.isfinite(out)
    out.backward()
    assert torch.isfinite(x.grad).all()
    ref = entry.fn(x.detach().double(), *to_torch(args[1:]), **to_torch(kwargs)).sum()
    assert abs(float(out.detach()) - float(ref)) <= 0.05 * (1 + abs(float(ref)))


# ---- the bad-input contract -------------------------------------------------

def _raises_naming(exc, name, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert name in str(info.value), f"message {str(info.value)!r} does not name {name!r}"


@pytest.mark.parametrize("entry", STANDARD, ids=ids(STANDARD))
def test_mismatched_shapes_rejected(entry):
    args, kwargs = entry.example(0)
    target = args[1][..., :-1]
    _raises_naming(ValueError, "target", entry.fn, args[0], target, *args[2:], **kwargs)


@pytest.mark.parametrize("entry", STANDARD, ids=ids(STANDARD))
def test_non_array_input_rejected(entry):
    args, kwargs = entry.example(0)
    _raises_naming(TypeError, "input", entry.fn, args[0].tolist(), *args[1:], **kwargs)


@pytest.mark.parametrize("entry", STANDARD, ids=ids(STANDARD))
def test_zero_size_rejected(entry):
    args, kwargs = entry.example(0)
    _raises_naming(ValueError, "empty", entry.fn, args[0][:0], args[1][:0], *args[2:], **kwargs)


LABEL_TARGETS = [e for e in STANDARD if np.issubdtype(e.example(0)[0][1].dtype, np.integer)]


@pytest.mark.parametrize("entry", LABEL_TARGETS, ids=ids(LABEL_TARGETS))
def test_labels_out_of_range_rejected(entry):
    args, kwargs = entry.example(0)
    bad = args[1].copy()
    bad.flat[0] = 1000
    _raises_naming(ValueError, "target", entry.fn, args[0], bad, *args[2:], **kwargs)


@pytest.mark.parametrize("entry", [e for e in STANDARD if "from_logits" in params(e)],
                         ids=ids([e for e in STANDARD if "from_logits" in params(e)]))
def test_probabilities_outside_unit_interval_rejected(entry):
    args, kwargs = entry.example(0)
    x = np.asarray(args[0], dtype=float) * 0 + 1.5
    _raises_naming(ValueError, "input", entry.fn, x, *args[1:], **{**kwargs, "from_logits": False})


@pytest.mark.parametrize("entry", [e for e in STANDARD if "weight" in params(e)],
                         ids=ids([e for e in STANDARD if "weight" in params(e)]))
def test_negative_weight_rejected(entry):
    args, kwargs = entry.example(0)
    c = args[0].shape[1]
    w = [1.0] * c
    w[0] = -1.0
    _raises_naming(ValueError, "weight", entry.fn, *args, **{**kwargs, "weight": w})


@pytest.mark.parametrize("entry", [e for e in STANDARD if "reduction" in params(e)],
                         ids=ids([e for e in STANDARD if "reduction" in params(e)]))
def test_unknown_reduction_rejected(entry):
    args, kwargs = entry.example(0)
    _raises_naming(ValueError, "reduction", entry.fn, *args, **{**kwargs, "reduction": "avg"})


@pytest.mark.parametrize("entry", LOSSES, ids=ids(LOSSES))
def test_nn_module_matches_function(entry):
    import segmath.nn as snn
    args, kwargs = entry.example(0)
    targs, tkw = to_torch(args), to_torch(kwargs)
    module = getattr(snn, snn.module_name(entry.id))(**tkw)
    np.testing.assert_allclose(flat(module(*targs)), flat(entry.fn(*targs, **tkw)), rtol=1e-12)


@pytest.mark.parametrize("entry", FROM_LOGITS, ids=ids(FROM_LOGITS))
def test_float16_input(entry):
    """Half-precision logits (as AMP on a GPU produces them): finite value and gradient, close to float64."""
    args, kwargs = entry.example(0)
    x = to_torch(args[0], torch.float32).half().requires_grad_(True)
    out = entry.fn(x, *to_torch(args[1:]), **to_torch(kwargs)).sum()
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all()
    ref = entry.fn(x.detach().double(), *to_torch(args[1:]), **to_torch(kwargs)).sum()
    assert abs(float(out.detach()) - float(ref)) <= 0.05 * (1 + abs(float(ref)))


def test_every_reference_is_a_key_of_references_bib():
    """An entry cites by key; a key missing from references.bib would only show as a note on the catalogue page."""
    from tools.book import bib_keys
    known = bib_keys()
    missing = sorted((e.id, key) for e in segmath.catalogue() for key in e.references if key not in known)
    assert not missing, f"references not in references.bib: {missing}"
