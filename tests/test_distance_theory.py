"""The S22-S24 verifications of segmath.theory.distance pass (and their counterexample bites)."""
from segmath.theory import distance as T


def test_boundary_loss_identity():
    r = T.verify_boundary_loss_identity(cases=8)
    assert r.passed and r.cases >= 8, r


def test_dt_hausdorff_nested_and_counterexample():
    assert T.verify_dt_hausdorff_convex_nested(cases=6).passed
    r = T.verify_dt_hausdorff_counterexample()
    assert r.passed and r.details["estimate"] > r.details["HD"] + 5, r
