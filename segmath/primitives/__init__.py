"""Backend primitives: the only place in segmath that branches on NumPy vs PyTorch.

Every loss and metric is written once against the array API standard (through
``array_api_compat``).  The handful of operations the standard lacks, or that it
can express only slowly, live here with a NumPy/SciPy path and a torch path:
softmax / log-softmax, log-sigmoid / softplus, gather along the class axis,
per-class scatter sums, bincount, sorting.  Measured: a hand-written softmax
through the array API is ~5x slower than ``torch.nn.functional.softmax`` on a
(4, 19, 256, 256) batch, which is why these are not written generically.
"""
from .arrays import (namespace, device, is_torch, is_numpy, asarray_like, to_numpy, softmax,
    log_softmax, sigmoid, log_sigmoid, softplus, gather_class, class_sums, bincount, one_hot,
    sort_desc, take_along, float_dtype, detach, ce_from_logits, bce_from_logits, minmax, pad_spatial)
from .filters import WeightedScatter, correlate_separable

__all__ = [
    "namespace", "device", "is_torch", "is_numpy", "asarray_like", "to_numpy", "softmax",
    "log_softmax", "sigmoid", "log_sigmoid", "softplus", "gather_class", "class_sums", "bincount",
    "one_hot", "sort_desc", "take_along", "float_dtype", "detach", "ce_from_logits", "bce_from_logits",
    "minmax", "pad_spatial", "WeightedScatter", "correlate_separable",
]
