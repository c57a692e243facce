"""Connected components (segmath.primitives.components.label) against scipy.ndimage.label.

The torch path runs a fixed number of hooking/shortcutting rounds (the bound is proved in
``label``'s docstring).  Eager CPU runs stop early once a round changes nothing, so the full,
fixed schedule is exercised under ``torch.compile(fullgraph=True)`` (the ``eager`` backend: the
traced graph, run op by op) and, for the larger shapes, with the early stop disabled.  The shapes
are chosen against the algorithm: long geodesics (spirals, serpentines, in 2-D and 3-D) in every
orientation (so that ids decrease along the path in some of them, the longest hooking chains),
interlocking combs and checkerboards (where 4- and 8-connectivity disagree), and random masks.
The oracle names each SciPy component by its smallest flat index + 1 with ``ndimage.minimum``.
"""
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from segmath.primitives import components as CC, grid as G


def expected(mask, ndim, connectivity):
    """SciPy's labels renamed to (smallest row-major index in the image) + 1."""
    spatial = mask.shape[mask.ndim - ndim:]
    m = mask.reshape((-1,) + spatial)
    out = np.zeros(m.shape, dtype=np.int64)
    index = np.arange(m[0].size).reshape(spatial)
    for b in range(m.shape[0]):
        ref, k = ndi.label(m[b], ndi.generate_binary_structure(ndim, connectivity))
        if k:
            first = np.asarray(ndi.minimum(index, ref, index=np.arange(1, k + 1)), dtype=np.int64)
            out[b] = np.where(ref > 0, np.concatenate([[0], first + 1])[ref], 0)
    return out.reshape(mask.shape)


def traced(mask, ndim, connectivity):
    torch._dynamo.reset()
    fn = torch.compile(lambda x: CC.label(x, ndim, connectivity), backend="eager", fullgraph=True)
    return fn(torch.from_numpy(mask)).numpy()


def full_schedule(mask, ndim, connectivity, monkeypatch):
    """The torch path with every round of the schedule run (no early stop), outside compile."""
    with monkeypatch.context() as mp:
        mp.setattr(torch.compiler, "is_compiling", lambda: True)
        return CC.label(torch.from_numpy(mask), ndim, connectivity).numpy()


# -- adversarial shapes ---------------------------------------------------------------

def spiral(n):
    """One square spiral path of width 1 with walls of width 1 (geodesic length ~ n^2 / 2)."""
    a = np.zeros((n, n), bool)
    r, c, dr, dc = 0, 0, 0, 1
    a[0, 0] = True
    while True:
        moved = False
        for _ in range(2):              # try to go on, else turn right once
            r2, c2 = r + 2 * dr, c + 2 * dc
            if 0 <= r2 < n and 0 <= c2 < n and not a[r2, c2]:
                a[r + dr, c + dc] = a[r2, c2] = True
                r, c, moved = r2, c2, True
                break
            dr, dc = dc, -dr
        if not moved:
            return a


def serpentine(h, w):
    a = np.zeros((h, w), bool)
    a[::2] = True
    for i in range(1, h, 2):
        a[i, w - 1 if (i // 2) % 2 == 0 else 0] = True
    return a


def combs(h, w):
    """Two interlocking combs: teeth one pixel apart, spines at the top and the bottom."""
    a = np.zeros((h, w), np.int8)
    a[0, :] = 1
    a[h - 1, :] = 2
    a[1:h - 2, 0::4] = 1
    a[2:h - 1, 2::4] = 2
    return a > 0


def staircase(n):
    a = np.zeros((n, n), bool)
    a[np.arange(n), np.arange(n)] = True                 # diagonal: one 8-component, n 4-components
    a[np.arange(n - 3), np.arange(3, n)] = True
    return a


def serpentine_3d(d, h, w):
    """Serpentine layers joined alternately at opposite corners: one long path through a volume."""
    a = np.zeros((d, h, w), bool)
    a[::2] = serpentine(h, w)
    for k in range(1, d, 2):
        a[k, (h - 1) if k % 4 == 1 else 0, (w - 1) if (h // 2) % 2 == 0 else 0] = True
    return a


def orientations(a):
    """The shape, flipped along each axis and (2-D) transposed: the ids run along it both ways."""
    out = [a, np.flip(a, tuple(range(a.ndim))).copy()]
    if a.ndim == 2:
        out += [a.T.copy(), np.flip(a, 0).copy()]
    return out


SHAPES_2D = {"spiral": spiral(23), "serpentine": serpentine(21, 17), "combs": combs(12, 21),
             "staircase": staircase(15), "checker": (np.indices((9, 10)).sum(0) % 2) == 0,
             "full": np.ones((5, 6), bool), "empty": np.zeros((5, 6), bool), "line": np.ones((1, 40), bool)}


def test_adversarial_shapes_are_what_they_claim():
    assert ndi.label(SHAPES_2D["spiral"])[1] == 1 and SHAPES_2D["spiral"].sum() > 23 * 23 // 2 - 5
    assert ndi.label(SHAPES_2D["serpentine"])[1] == 1
    assert ndi.label(SHAPES_2D["combs"])[1] == 2
    assert ndi.label(SHAPES_2D["combs"], np.ones((3, 3)))[1] == 2     # one pixel apart even diagonally
    assert ndi.label(SHAPES_2D["staircase"])[1] == 15 + 12
    assert ndi.label(SHAPES_2D["staircase"], np.ones((3, 3)))[1] == 2
    assert ndi.label(serpentine_3d(5, 7, 6))[1] == 1


@pytest.mark.parametrize("connectivity", [1, 2])
@pytest.mark.parametrize("name", sorted(SHAPES_2D))
def test_2d_shapes_traced_match_scipy(name, connectivity):
    batch = np.stack([a for a in orientations(SHAPES_2D[name]) if a.shape == SHAPES_2D[name].shape])
    np.testing.assert_array_equal(traced(batch, 2, connectivity), expected(batch, 2, connectivity))


@pytest.mark.parametrize("connectivity", [1, 2, 3])
def test_3d_shapes_traced_match_scipy(connectivity):
    s = serpentine_3d(5, 7, 6)
    checker = (np.indices((5, 7, 6)).sum(0) % 2) == 0       # 6-connectivity: singletons; 18, 26: one
    batch = np.stack([s, np.flip(s).copy(), checker, np.random.default_rng(1).random((5, 7, 6)) < 0.35])
    np.testing.assert_array_equal(traced(batch, 3, connectivity), expected(batch, 3, connectivity))


@pytest.mark.slow
@pytest.mark.parametrize("ndim, connectivity", [(2, 1), (2, 2), (3, 1), (3, 3)])
def test_large_adversarial_full_schedule(ndim, connectivity, monkeypatch):
    if ndim == 2:
        shapes = orientations(spiral(63)) + orientations(serpentine(63, 63))
    else:
        shapes = orientations(serpentine_3d(15, 15, 14))
    batch = np.stack(shapes)
    np.testing.assert_array_equal(full_schedule(batch, ndim, connectivity, monkeypatch),
                                  expected(batch, ndim, connectivity))


@pytest.mark.parametrize("density", [0.2, 0.45, 0.6, 0.8])
@pytest.mark.parametrize("ndim, connectivity", [(2, 1), (2, 2), (3, 1), (3, 2), (3, 3)])
def test_random_masks_match_scipy(ndim, connectivity, density, monkeypatch):
    rng = np.random.default_rng(int(100 * density) + 10 * ndim + connectivity)
    mask = rng.random((3,) + ((19, 23) if ndim == 2 else (7, 9, 8))) < density
    ref = expected(mask, ndim, connectivity)
    np.testing.assert_array_equal(full_schedule(mask, ndim, connectivity, monkeypatch), ref)
    with G.cpu_backend("torch"):                                  # eager torch path, early stop
        np.testing.assert_array_equal(CC.label(torch.from_numpy(mask), ndim, connectivity).numpy(), ref)
    np.testing.assert_array_equal(CC.label(torch.from_numpy(mask), ndim, connectivity).numpy(), ref)  # SciPy
    numpy_ids = CC.label(mask, ndim, connectivity)                # NumPy: SciPy's own consecutive ids
    for b in range(3):
        np.testing.assert_array_equal(
            numpy_ids[b], ndi.label(mask[b], ndi.generate_binary_structure(ndim, connectivity))[0])


def test_leading_batch_axes_and_degenerate_sizes(monkeypatch):
    rng = np.random.default_rng(5)
    mask = rng.random((2, 3, 6, 5)) < 0.5
    np.testing.assert_array_equal(full_schedule(mask, 2, 1, monkeypatch), expected(mask, 2, 1))
    one = np.ones((2, 1, 1), bool)
    np.testing.assert_array_equal(full_schedule(one, 2, 1, monkeypatch), np.ones((2, 1, 1), np.int64))


def test_schedule_is_the_proved_bound():
    """K = floor(log2 n) rounds, J_k = ceil(log2 floor(n / 2^k)) shortcuts (label's docstring)."""
    for n in [1, 2, 3, 4, 5, 81, 1000, 128 ** 3]:
        sched = CC.label_schedule(n)
        assert len(sched) == int(np.floor(np.log2(n)))
        for k, j in enumerate(sched):
            t = n // 2 ** k
            assert 2 ** j >= t > 2 ** (j - 1) if t > 1 else j == 0
        k_rounds = len(sched)
        assert sum(sched) <= k_rounds * (k_rounds + 3) // 2
    assert CC.label_schedule(81) == [7, 6, 5, 4, 3, 1]


@pytest.mark.parametrize("name", ["spiral", "serpentine", "staircase", "combs"])
def test_stars_per_component_halve_every_round(name, monkeypatch):
    """The claim of the proof, checked round by round: after k rounds a component holds at most
    max(1, floor(n / 2^k)) stars (distinct ids of the cut-short forest inside one SciPy component)."""
    batch = np.stack([a for a in orientations(SHAPES_2D[name]) if a.shape == SHAPES_2D[name].shape])
    n = batch[0].size
    ref = np.stack([ndi.label(a, ndi.generate_binary_structure(2, 2))[0] for a in batch])
    seen_many = False
    with monkeypatch.context() as mp:
        mp.setattr(torch.compiler, "is_compiling", lambda: True)
        for k in range(len(CC.label_schedule(n)) + 1):
            cut = CC._label_torch(torch.from_numpy(batch), 2, 2, batch.shape[1:], rounds=k).numpy()
            for b in range(len(batch)):
                for c in range(1, ref[b].max() + 1):
                    stars = len(np.unique(cut[b][ref[b] == c]))
                    assert stars <= max(1, n >> k), (k, b, c, stars)
                    seen_many |= k == 1 and stars > 1
    assert seen_many or name == "staircase"        # one round does not finish the long paths
