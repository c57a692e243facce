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


def test_pq_check_catches_a_wrong_detection_f1(monkeypatch):
    import segmath.instances as inst
    real = inst.detection_f1
    monkeypatch.setattr(inst, "detection_f1", lambda p, g, **k: real(p, g, **{**k, "beta": 2.0}))
    assert not theory.verify_pq_sq_rq(cases=10).passed


def test_exhaustive_iou_table_against_sets():
    """The enumerated IoU table of the S26 check, entry by entry against Python sets (void too)."""
    import itertools

    from segmath.theory.instances import _all_pair_partners
    maps = list(itertools.product(range(4), repeat=5))
    rng = np.random.default_rng(0)
    for void in (None, 3):
        iou, n_pairs = _all_pair_partners(void=void)
        assert n_pairs == 1024 ** 2
        for a, b in rng.integers(0, 1024, (200, 2)):
            for i, j in itertools.product(range(3), range(3)):
                p = {k for k, v in enumerate(maps[a]) if v == i + 1}
                g = {k for k, v in enumerate(maps[b]) if v == j + 1 and v != void}
                on_void = {k for k in p if maps[b][k] == void}
                if not p or not g:
                    assert np.isnan(iou[a, b, i, j])
                else:
                    assert iou[a, b, i, j] == len(p & g) / (len(p | g) - len(on_void))


def test_geometry_check_catches_a_wrong_balls_loss(monkeypatch):
    real = segmath.push_pull_balls
    monkeypatch.setattr(segmath, "push_pull_balls", lambda x, y, **k: real(x, y, **{**k, "r_r": 2 * k["r_r"]}))
    assert not theory.verify_discriminative_geometry(cases=20).passed


def test_zero_loss_search_finds_the_hand_made_counterexamples():
    from segmath.theory.instances import _two_instance_grid, _zero_loss_counterexamples
    grid = _two_instance_grid()
    # by hand, delta_v = 1 < delta_d = 1.5 <= 2: A = {-1, 1}, B = {2, 4}: centres 3 apart, intra 2 > inter 1
    conf = np.array([-1.0, 1.0, 2.0, 4.0])
    assert ((grid == conf[:, None]).all(0)).any()
    x, lab = conf[None, None, :, None], np.array([[1, 1, 2, 2]])[..., None]
    assert float(segmath.discriminative(x, lab, delta_v=1.0, delta_d=1.5, gamma=0.0)) == 0.0
    assert _zero_loss_counterexamples(grid, "discriminative", 1.0, 1.5)["intra"] is not None
    assert _zero_loss_counterexamples(grid, "discriminative", 1.0, 2.25)["intra"] is None
    # balls with the seed's r_R = 2 r_A: A = {-1, 1}, B = {2, 4} is also a zero-loss configuration
    assert float(segmath.push_pull_balls(x, lab, r_a=1.0, r_r=2.0)) == 0.0
    assert _zero_loss_counterexamples(grid, "balls", 1.0, 2.0)["intra"] is not None
    assert _zero_loss_counterexamples(grid, "balls", 1.0, 3.25)["intra"] is None
