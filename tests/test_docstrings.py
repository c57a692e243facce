"""Every docstring example in the package runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest

import segmath

MODULES = sorted(m.name for m in pkgutil.walk_packages(segmath.__path__, "segmath.")
                 )


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.slow
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
