"""Conventions of the instance and panoptic functions, validated in one place.

* **Instance maps** (matching, per-instance Dice, detection F1): integer label images of one
  image, any spatial rank; each id is one instance, ``background`` (``0`` by default; ``None``:
  every id is an instance) is none.
* **Panoptic maps** (:func:`segmath.panoptic_quality`): integer arrays ``(N, 2, *spatial)``,
  channel 0 the category, channel 1 the instance id (MONAI's and torchmetrics' content in
  segmath's channel-first layout).  ``things`` are categories with instances, ``stuffs`` are
  categories whose instance id is ignored (one segment per image), ``void`` an optional category
  of unlabelled pixels.  Any other category is an error.
* **Instance predictions for AP** (:func:`segmath.instance_ap`): one dict per image, as
  torchmetrics' ``MeanAveragePrecision(iou_type="segm")``: predictions ``masks`` ``(K, *spatial)``
  bool, ``scores`` ``(K,)``, ``labels`` ``(K,)``; targets ``masks``, ``labels`` (and optionally
  ``iscrowd``).
* **Embeddings** (the embedding losses): ``input`` ``(N, F, *spatial)`` float, ``target`` ``(N, *spatial)``
  integer instance ids.

The matching and the metrics work on the host (the assignment is combinatorial); their pixel
counts come back as one small table per image.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import primitives as P
from ..validation import check_array, check_same_kind, value_checks_enabled


def check_label_map(x, name: str):
    """An integer instance-label image (any rank), as a NumPy array."""
    check_array(x, name, min_ndim=1, floating=False)
    if x.dtype == P.namespace(x).bool:
        raise TypeError(f"{name} must hold integer instance ids, got dtype bool")
    return P.to_numpy(x)


def check_background(background):
    if background is None:
        return None
    if isinstance(background, bool) or not isinstance(background, numbers.Integral):
        raise TypeError(f"background must be an integer id or None (every id an instance), got {background!r}")
    return int(background)


def sequence_items(values, name: str, what: str) -> list:
    """The items of a sequence argument as a list; a string, bytes, ``None`` or a non-iterable
    raise a ``TypeError`` saying ``name`` must be a sequence of ``what``."""
    # str/bytes iterate, but as characters: never what a caller of a label or threshold list means
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{name} must be a sequence of {what}, got {values!r}")
    try:
        return list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of {what}, got {values!r}") from None


def check_categories(values, name: str, *, allow_empty: bool = True):
    """A sequence of distinct integer category labels, as a sorted tuple."""
    items = sequence_items(values, name, "integer category labels")
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{name} must hold integer category labels, got {values!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"{name} has repeated labels: {items}")
    if not allow_empty and not items:
        raise ValueError(f"{name} must not be empty")
    return tuple(sorted(int(v) for v in items))


def check_panoptic_pair(input, target):
    """``(N, 2, *spatial)`` integer maps of the same kind and shape, returned as NumPy arrays."""
    for x, name in ((input, "input"), (target, "target")):
        check_array(x, name, min_ndim=3)
        xp = P.namespace(x)
        if x.dtype == xp.bool or not xp.isdtype(x.dtype, "integral"):
            raise TypeError(f"{name} must be an integer panoptic map (N, 2, *spatial) of category and "
                            f"instance id, got dtype {x.dtype}")
        if x.shape[1] != 2:
            raise ValueError(f"{name} must have shape (N, 2, *spatial): channel 0 the category, channel 1 "
                             f"the instance id; got shape {tuple(x.shape)}")
    check_same_kind(input, target, "input", "target")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"target must have the shape of input {tuple(input.shape)}, got {tuple(target.shape)}")
    return P.to_numpy(input), P.to_numpy(target)


def check_panoptic_values(x, name: str, known, *, crowd=None):
    """Categories in ``known`` (things, stuffs, void), instance ids non-negative."""
    if not value_checks_enabled():
        return
    cats, ids = x[:, 0], x[:, 1]
    bad = ~np.isin(cats, np.asarray(known, dtype=cats.dtype))
    if bad.any():
        found = sorted(set(np.unique(cats[bad]).tolist()))[:5]
        raise ValueError(f"{name} holds categories {found} that are neither things, stuffs nor void "
                         f"(known: {list(known)})")
    if (ids < 0).any():
        raise ValueError(f"{name} holds negative instance ids (channel 1), e.g. {int(ids.min())}")


def check_detections(items, name: str, *, prediction: bool):
    """A list of per-image dicts (torchmetrics' segm format); returns NumPy (masks, labels, scores, crowd)."""
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"{name} must be a list of per-image dicts with 'masks' and 'labels'"
                        f"{' and scores' if prediction else ''}, got {type(items).__name__}")
    if not items:
        raise ValueError(f"{name} must hold at least one image (it is empty)")
    keys = ("masks", "scores", "labels") if prediction else ("masks", "labels")
    out = []
    for i, d in enumerate(items):
        where = f"{name}[{i}]"
        if not isinstance(d, dict) or any(k not in d for k in keys):
            raise TypeError(f"{where} must be a dict with keys {keys}, got {d!r:.80}")
        masks = d["masks"]
        if not (P.is_numpy(masks) or P.is_torch(masks)) or masks.ndim < 2:
            raise TypeError(f"{where}['masks'] must be an array (K, *spatial), got {type(masks).__name__}")
        masks = P.to_numpy(masks)
        if masks.dtype != bool:
            if not np.issubdtype(masks.dtype, np.integer) or ((masks != 0) & (masks != 1)).any():
                raise TypeError(f"{where}['masks'] must be bool (or 0/1 integer) masks, got dtype {masks.dtype}")
            masks = masks.astype(bool)
        k = masks.shape[0]
        labels = _vector(d["labels"], f"{where}['labels']", k, integer=True)
        scores = _vector(d["scores"], f"{where}['scores']", k, integer=False) if prediction else None
        crowd = np.zeros(k, bool)
        if not prediction and "iscrowd" in d:
            crowd = _vector(d["iscrowd"], f"{where}['iscrowd']", k, integer=True).astype(bool)
        out.append((masks, labels, scores, crowd))
    return out


def _vector(v, name, k, *, integer):
    if not (P.is_numpy(v) or P.is_torch(v)):
        raise TypeError(f"{name} must be an array of length {k}, got {type(v).__name__}")
    v = P.to_numpy(v)
    if v.ndim != 1 or v.shape[0] != k:
        raise ValueError(f"{name} must have shape ({k},) (one per mask), got {v.shape}")
    if integer and not (np.issubdtype(v.dtype, np.integer) or v.dtype == bool):
        raise TypeError(f"{name} must have an integer dtype, got {v.dtype}")
    if not integer:
        if not np.issubdtype(v.dtype, np.floating) and not np.issubdtype(v.dtype, np.integer):
            raise TypeError(f"{name} must be real scores, got dtype {v.dtype}")
        if not np.isfinite(v).all():
            raise ValueError(f"{name} must be finite; found NaN or inf")
    return v
