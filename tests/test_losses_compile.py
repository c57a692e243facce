"""GPU-readiness of the losses: with value checks off, no host sync inside (DESIGN.md section 3).

A host round trip (``bool(tensor)``, ``.item()``, a NumPy call on data) is a graph break, so every
loss of :mod:`segmath.losses` must trace whole under ``torch.compile(fullgraph=True)`` and give the
eager value.  The ``eager`` backend traces with Dynamo without generating code (the check is the
trace; it keeps the test at seconds per loss).  The distance-based losses of
:mod:`segmath.distance.losses` are left out on purpose: on CPU tensors their distance transforms
run in SciPy on the host (on accelerators they are pure torch).
"""
import pytest
import torch

import segmath
from conftest import to_torch

LOSSES = [e for e in segmath.catalogue("loss") if e.fn.__module__.startswith("segmath.losses.")]


@pytest.mark.slow
@pytest.mark.parametrize("entry", LOSSES, ids=[e.id for e in LOSSES])
def test_loss_traces_whole_without_checks(entry):
    args, kwargs = entry.example(0)
    args, kwargs = to_torch(args), to_torch(kwargs)
    torch._dynamo.reset()
    with segmath.value_checks(False):
        eager = entry.fn(*args, **kwargs)
        traced = torch.compile(entry.fn, backend="eager", fullgraph=True)(*args, **kwargs)
    torch.testing.assert_close(traced, eager, rtol=1e-12, atol=1e-12)
