"""Distance transforms against SciPy and brute force, on NumPy and on the pure-torch paths."""
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

import segmath
from segmath.primitives import edt as E, morphology as M, components as CC, grid as G


def random_case(rng, ndim):
    shape = tuple(int(v) for v in rng.integers(1, 13 if ndim == 3 else 40, size=ndim))
    p = rng.choice([0.02, 0.3, 0.7, 0.97])
    mask = rng.random(shape) < p
    spacing = tuple(float(v) for v in rng.uniform(0.3, 3.0, size=ndim))
    return mask, spacing


def scipy_edt(mask, spacing):
    if mask.all():
        return np.full(mask.shape, np.inf)
    return ndi.distance_transform_edt(mask, sampling=spacing)


def assert_close_inf(out, ref, rtol):
    assert np.array_equal(np.isinf(out), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(out[fin], ref[fin], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("method", ["window", "sweep", "envelope", "bisect"])
@pytest.mark.slow
def test_torch_edt_equals_scipy(ndim, method):
    rng = np.random.default_rng(ndim * 10 + len(method))
    for _ in range(25):
        mask, spacing = random_case(rng, ndim)
        ref = scipy_edt(mask, spacing)
        out64 = E.edt(torch.from_numpy(mask).double(), spacing, ndim, method).numpy()
        assert_close_inf(out64, ref, 1e-10)
        out32 = E.edt(torch.from_numpy(mask), spacing, ndim, method, dtype=torch.float32).numpy()
        assert out32.dtype == np.float32
        assert_close_inf(out32.astype(float), ref, 1e-5)


def test_public_edt_numpy_and_torch_batched():
    rng = np.random.default_rng(3)
    mask = rng.random((3, 2, 9, 14)) < 0.8
    mask[0, 0] = True                # no zero: inf
    mask[0, 1] = False               # all zeros: 0
    spacing = (0.7, 1.9)
    ref = np.stack([[scipy_edt(m, spacing) for m in row] for row in mask])
    assert_close_inf(segmath.edt(mask, spacing), ref, 1e-12)
    assert_close_inf(segmath.edt(torch.from_numpy(mask).double(), spacing).numpy(), ref, 1e-10)
    assert np.isinf(segmath.edt(mask, spacing)[0, 0]).all()
    assert (segmath.edt(mask, spacing)[0, 1] == 0).all()


def test_edt_3d_volume_via_ndim_and_spacing():
    rng = np.random.default_rng(4)
    vol = rng.random((7, 8, 9)) < 0.9
    ref = ndi.distance_transform_edt(vol, sampling=(1.0, 2.0, 0.5))
    np.testing.assert_allclose(segmath.edt(torch.from_numpy(vol).double(), (1.0, 2.0, 0.5)).numpy(), ref,
                               rtol=1e-10)
    ref_iso = ndi.distance_transform_edt(vol)
    np.testing.assert_allclose(segmath.edt(vol, ndim=3), ref_iso, rtol=1e-12)


def test_edt_large_line_and_single_zero():
    # one zero in a long line: distances grow linearly on both sides (envelope with one site)
    m = np.ones((1, 300), bool)
    m[0, 123] = False
    expected = np.abs(np.arange(300) - 123)[None].astype(float)
    for method in ("window", "sweep", "envelope", "bisect"):
        out = E.edt(torch.from_numpy(m).T.contiguous().double(), (1.0, 1.0), 2, method).numpy().T
        np.testing.assert_array_equal(out, expected)


def test_window_solver_hands_far_lines_to_the_sweep():
    """Sparse zeros: some columns need far minimisers and go to the sweep; all stay exact."""
    rng = np.random.default_rng(11)
    mask = np.ones((2, 200, 150), bool)
    mask[0, 5, 7] = False                                  # one zero: every column is far
    mask[1] = rng.random((200, 150)) > 0.02                # dense zeros: windows finish
    mask[1, :, :20] = True
    mask[1, 190, 3] = False
    spacing = (1.3, 0.7)
    ref = np.stack([ndi.distance_transform_edt(m, sampling=spacing) for m in mask])
    out = E.edt(torch.from_numpy(mask), spacing, 2, "window", dtype=torch.float64).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_cpu_backend_switch_selects_the_same_values():
    rng = np.random.default_rng(12)
    mask = torch.from_numpy(rng.random((2, 30, 41)) < 0.9)
    default = segmath.edt(mask, (1.2, 0.9))                 # CPU tensors: SciPy path
    with E.cpu_backend("torch"):
        pure = segmath.edt(mask, (1.2, 0.9))
        edges = segmath.boundary(mask, 2)
    assert default.dtype == pure.dtype == torch.get_default_dtype()
    torch.testing.assert_close(pure, default, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(edges, segmath.boundary(mask, 2))
    with pytest.raises(ValueError, match="name"):
        with E.cpu_backend("cupy"):
            pass
    with pytest.raises(ValueError, match="host"):
        E.edt(torch.ones(3, 3, device="meta"), (1.0, 1.0), 2, "scipy")


def brute_signed(mask, spacing, offset):
    pts = np.argwhere(np.ones_like(mask)) * np.asarray(spacing)
    inside = mask.ravel()
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    to_in = np.where(inside[None, :], d, np.inf).min(1)
    to_out = np.where(~inside[None, :], d, np.inf).min(1)
    return np.where(inside, offset - to_out, to_in).reshape(mask.shape)


@pytest.mark.parametrize("convention,offset", [("exact", 0.0), ("kervadec", 1.0)])
def test_signed_distance_brute_force(convention, offset):
    rng = np.random.default_rng(5)
    mask = rng.random((9, 12)) < 0.4
    ref = brute_signed(mask, (1.3, 0.8), offset)
    np.testing.assert_allclose(segmath.signed_distance(mask, (1.3, 0.8), convention=convention), ref, rtol=1e-12)
    out = segmath.signed_distance(torch.from_numpy(mask).double(), (1.3, 0.8), convention=convention)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    assert (segmath.signed_distance(np.zeros((3, 3))) == np.inf).all()


@pytest.mark.parametrize("ndim,connectivity", [(2, 1), (2, 2), (3, 1), (3, 3)])
def test_boundary_matches_scipy_erosion(ndim, connectivity):
    rng = np.random.default_rng(ndim + connectivity)
    mask = rng.random((2,) + (7,) * ndim) < 0.7
    st = ndi.generate_binary_structure(ndim, connectivity)
    ref = np.stack([m & ~ndi.binary_erosion(m, st, border_value=0) for m in mask])
    out = segmath.boundary(torch.from_numpy(mask), connectivity, ndim=ndim).numpy()
    np.testing.assert_array_equal(out, ref)
    with E.cpu_backend("torch"):                           # the shifted-view erosion and dilation
        out = segmath.boundary(torch.from_numpy(mask), connectivity, ndim=ndim).numpy()
        grown = M.dilate(torch.from_numpy(mask), ndim, connectivity).numpy()
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(grown, ndi.binary_dilation(mask, G._structure(ndim, connectivity, ndim + 1)))
    np.testing.assert_array_equal(segmath.boundary(mask, connectivity, ndim=ndim), ref)


@pytest.mark.parametrize("connectivity", [1, 2])
def test_torch_connected_components_match_scipy(connectivity):
    rng = np.random.default_rng(connectivity)
    mask = rng.random((3, 20, 17)) < 0.45
    ours = CC.label(torch.from_numpy(mask), 2, connectivity).numpy()
    for b in range(3):
        ref, _ = ndi.label(mask[b], ndi.generate_binary_structure(2, connectivity))
        assert ((ours[b] > 0) == (ref > 0)).all()
        # same partition: the pairs (ours, ref) are in one-to-one correspondence
        pairs = set(zip(ours[b][ref > 0].tolist(), ref[ref > 0].tolist()))
        assert len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs}) == ref.max()


def test_two_nearest_objects_brute_force():
    rng = np.random.default_rng(8)
    lab = np.zeros((2, 13, 11), np.int64)
    for b in range(2):
        for k in range(1, 5):
            i, j = rng.integers(0, 12, size=2)
            lab[b, i:i + 2, j:j + 3] = k
    lab[1] = np.where(lab[1] > 1, 0, lab[1])          # image 1 has a single object: d2 = inf
    spacing = (1.0, 1.7)
    pts = np.argwhere(np.ones((13, 11))) * np.asarray(spacing)
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    for b in range(2):
        per = []
        for k in np.unique(lab[b][lab[b] > 0]):
            per.append(np.where((lab[b].ravel() == k)[None, :], d, np.inf).min(1))
        per = np.sort(np.stack(per), axis=0)
        ref1 = per[0].reshape(13, 11)
        ref2 = (per[1] if len(per) > 1 else np.full(13 * 11, np.inf)).reshape(13, 11)
        for backend in (lambda a: a, torch.from_numpy):
            d1, d2 = CC.two_nearest(backend(lab[b:b + 1]), spacing, 2, dtype=torch.float64)
            d1, d2 = np.asarray(d1)[0], np.asarray(d2)[0]
            np.testing.assert_allclose(d1, ref1, rtol=1e-10)
            np.testing.assert_allclose(d2, ref2, rtol=1e-10)


def test_bad_arguments():
    with pytest.raises(TypeError, match="mask"):
        segmath.edt([[0, 1]])
    with pytest.raises(ValueError, match="spacing"):
        segmath.edt(np.ones((3, 3)), spacing=(1.0, -1.0))
    with pytest.raises(ValueError, match="ndim"):
        segmath.edt(np.ones((3, 3)), ndim=3)
    with pytest.raises(ValueError, match="connectivity"):
        segmath.boundary(np.ones((3, 3)), connectivity=3)
    with pytest.raises(ValueError, match="convention"):
        segmath.signed_distance(np.ones((3, 3)), convention="x")
