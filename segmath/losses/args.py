"""Argument descriptions shared by the losses (see :mod:`segmath.docs`).

A loss's docstring writes ``{args}`` in its ``Args:`` section and describes only what is
particular to it; the common options (``input``, ``target``, ``weight``, ...) come from here.
"""
from __future__ import annotations

from ..docs import ArgDocs

__all__ = ["LOSS_ARGS", "REGION_ARGS", "DISTRIBUTION_ARGS", "COMPOUND_ARGS", "BOUNDARY_ARGS"]

#: every loss with the ``(input, target, ...)`` convention of :func:`segmath.inputs.make_pair`
LOSS_ARGS = ArgDocs(
    input="``(N, C, *spatial)`` logits (probabilities with ``from_logits=False``).",
    target="``(N, *spatial)`` labels or ``(N, C, *spatial)`` one-hot / soft targets.",
    weight="per-class weights ``(C,)`` for the class mean.",
    ignore_index="label value excluded from every sum.",
    from_logits="``True``: ``input`` holds logits; ``False``: probabilities in [0, 1].",
    activation='``None`` (sigmoid if ``C = 1``, else softmax), ``"softmax"`` or ``"sigmoid"`` (multi-label).',
    reduction='``"mean"`` | ``"sum"`` | ``"none"``.',
)

#: the region losses: a ratio of soft counts per image and class (segmath.losses.region)
REGION_ARGS = LOSS_ARGS.extend(smooth="``s`` above (module empty policy).", aggregate='``"image"`` or ``"batch"``.')

#: the per-pixel losses (segmath.losses.distribution)
DISTRIBUTION_ARGS = LOSS_ARGS.extend(ignore_index="label value excluded from the loss and the normaliser.")

#: the compound losses (segmath.losses.compound): a cross-entropy term plus a region term
COMPOUND_ARGS = LOSS_ARGS.extend(ignore_index="label value excluded from both terms.", reduction='``"mean"`` or ``"sum"``.',
                                 aggregate='Dice aggregation, ``"image"`` or ``"batch"``.')

#: the boundary- and distance-aware losses (segmath.distance.losses): hard targets, distances
BOUNDARY_ARGS = LOSS_ARGS.extend(target="``(N, *spatial)`` labels or hard ``(N, C, *spatial)`` masks.",
                                 spacing="voxel size for the distances.", ignore_index="label excluded from the loss.")
