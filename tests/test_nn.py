"""segmath.nn: every catalogue loss as a thin torch Module with the function's signature and docstring."""
import inspect
import pydoc

import numpy as np
import pytest
import torch

import segmath
import segmath.nn as snn
from conftest import flat, to_torch

LOSSES = segmath.catalogue("loss")


def module_of(entry):
    return getattr(snn, snn.module_name(entry.id))


@pytest.mark.parametrize("entry", LOSSES, ids=lambda e: e.id)
def test_module_equals_function_value_and_gradient(entry):
    args, kwargs = entry.example(0)
    targs, tkw = to_torch(args), to_torch(kwargs)
    x_mod = targs[0].clone().requires_grad_(True)
    x_fn = targs[0].clone().requires_grad_(True)
    out_mod = module_of(entry)(**tkw)(x_mod, *targs[1:])
    out_fn = entry.fn(x_fn, *targs[1:], **tkw)
    np.testing.assert_array_equal(flat(out_mod), flat(out_fn))
    out_mod.sum().backward()
    out_fn.sum().backward()
    np.testing.assert_array_equal(flat(x_mod.grad), flat(x_fn.grad))


@pytest.mark.parametrize("entry", LOSSES, ids=lambda e: e.id)
def test_unknown_option_raises_at_construction(entry):
    with pytest.raises(TypeError, match="'smoothh'"):
        module_of(entry)(smoothh=1.0)


@pytest.mark.parametrize("entry", LOSSES, ids=lambda e: e.id)
def test_signature_is_the_functions_options_with_its_defaults(entry):
    own = list(inspect.signature(entry.fn).parameters.values())
    assert [p.name for p in own[:2]] == ["input", "target"]
    sig = inspect.signature(module_of(entry))
    assert [(p.name, p.default) for p in sig.parameters.values()] == [(p.name, p.default) for p in own[2:]]
    assert all(p.kind is p.KEYWORD_ONLY for p in sig.parameters.values())


@pytest.mark.parametrize("entry", LOSSES, ids=lambda e: e.id)
def test_help_carries_the_functions_docstring_and_formula(entry):
    doc = inspect.getdoc(entry.fn)
    cls = module_of(entry)
    assert doc and doc in cls.__doc__
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    assert f"segmath.{entry.id}" in text
    if ".. math::" in doc:
        formula = doc.split(".. math::", 1)[1].strip().splitlines()[0]
        assert formula in text


def test_required_option_is_required_at_construction():
    with pytest.raises(TypeError, match="'weight'"):
        snn.WeightedCrossEntropyLoss()
    assert snn.WeightedCrossEntropyLoss(weight=torch.ones(3)).options == {}


def test_defaults_shown_by_help():
    text = pydoc.render_doc(snn.TverskyLoss, renderer=pydoc.plaintext)
    assert "alpha=0.3" in text and "beta=0.7" in text and "smooth=1e-05" in text


def test_tensor_options_are_buffers_that_follow_the_module():
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float32)
    m = snn.DiceLoss(weight=w, smooth=0.0).to(torch.float64)
    assert m.weight.dtype == torch.float64 and "weight" not in m.state_dict()
    assert m.call_options()["weight"] is m.weight and m.options == {"smooth": 0.0}
    assert "weight=tensor(shape=(3,))" in repr(m) and "smooth=0.0" in repr(m)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 4, 5))
    assert torch.equal(m(x, y), segmath.dice(x, y, weight=w.double(), smooth=0.0))


def test_every_loss_has_a_module_and_nothing_else_is_generated():
    generated = {n for n in snn.__all__ if n not in ("CatalogueLoss", "module_name")}
    assert generated == {snn.module_name(e.id) for e in LOSSES}
    assert all(issubclass(getattr(snn, n), snn.CatalogueLoss) for n in generated)
