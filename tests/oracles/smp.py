"""segmentation-models-pytorch's losses, loaded without its model zoo.

segmentation-models-pytorch's package ``__init__`` imports timm, which imports
torchvision; the PyPI torchvision wheel needs CUDA libraries that a CPU-only torch
does not ship, so ``import segmentation_models_pytorch`` fails here.  Its
``losses`` subpackage is self-contained (torch only), so we load it under a bare
parent package that skips the heavy ``__init__``.
"""
import importlib
import importlib.util
import sys
import types


def smp_losses():
    """``segmentation_models_pytorch.losses`` without importing the model zoo."""
    name = "segmentation_models_pytorch"
    try:
        return importlib.import_module(f"{name}.losses")
    except Exception:
        pass
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    spec = importlib.util.find_spec(name)
    parent = types.ModuleType(name)
    parent.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = parent
    return importlib.import_module(f"{name}.losses")
