"""The instance verifications pass (tests/test_theory.py runs them) and can fail."""
import numpy as np

import segmath
from segmath import theory


def test_pq_check_catches_a_wrong_pq(monkeypatch):
    real = segmath.panoptic_quality

    def wrong(*a, **k):
        r = dict(real(*a, **k))
        r["pq"] = r["pq"] * 0.99
        return r
    monkeypatch.setattr(segmath, "panoptic_quality", wrong)
    assert not theory.verify_pq_sq_rq(cases=10).passed


def test_uniqueness_check_catches_a_loose_threshold(monkeypatch):
    import segmath.instances as inst
    real = inst.match_instances
    monkeypatch.setattr(inst, "match_instances", lambda p, g, **k: real(p, g, **{**k, "threshold": 0.49})
                        if k.get("threshold", 0.5) == 0.5 else real(p, g, **k))
    assert not theory.verify_matching_uniqueness(cases=30).passed


def test_geometry_check_catches_a_wrong_loss(monkeypatch):
    real = segmath.discriminative
    monkeypatch.setattr(segmath, "discriminative", lambda x, y, **k: real(x, y, **{**k, "delta_v": k["delta_v"] / 2}))
    assert not theory.verify_discriminative_geometry(cases=20).passed


def test_fathi_check_catches_a_wrong_similarity(monkeypatch):
    real = segmath.pairwise_similarity
    monkeypatch.setattr(segmath, "pairwise_similarity", lambda x, y, **k: real(x * 1.01, y, **k))
    assert not theory.verify_fathi_similarity(cases=10).passed
    assert np.isfinite(theory.verify_fathi_similarity(cases=10).worst_error)


def test_ball_check_catches_a_loss_without_the_lovasz_term(monkeypatch):
    real = segmath.spatial_embedding
    monkeypatch.setattr(segmath, "spatial_embedding", lambda x, y, **k: real(x, y, **{**k, "w_inst": 0.0}) + 0 * x.sum())
    assert not theory.verify_spatial_embedding_ball(steps=20).passed
