"""segmath.teaching.data: synthetic generators with exact ground truth, real images, PNG pairs."""
import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from segmath.teaching import data


@pytest.mark.parametrize("kind", data.KINDS)
@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.01, 0.001])
def test_foreground_fraction_is_the_target(kind, fraction):
    x, y = data.shapes(4, 96, kind=kind, foreground=fraction, seed=3)
    per_image = (y == 1).reshape(4, -1).mean(1)
    # exactly round(f * H * W) pixels per image (at least one): within 1/(H*W) of the target
    assert np.all(np.abs(per_image - fraction) <= 1 / 96 ** 2 + 1e-12)
    assert set(np.unique(y)) <= {0, 1}


def test_multiclass_fractions_per_class():
    target = [0.3, 0.05, 0.001]
    _, y = data.shapes(3, (64, 80), classes=4, foreground=target, seed=0)
    counts = np.stack([np.bincount(im.ravel(), minlength=4) for im in y])
    expect = np.maximum(1, np.round(np.array(target) * 64 * 80))
    assert np.array_equal(counts[:, 1:], np.tile(expect, (3, 1)))


def test_shapes_dtypes_and_seeding():
    a = data.shapes(5, (32, 48), classes=3, foreground=0.3, channels=3, seed=7)
    b = data.shapes(5, (32, 48), classes=3, foreground=0.3, channels=3, seed=7)
    c = data.shapes(5, (32, 48), classes=3, foreground=0.3, channels=3, seed=8)
    assert a[0].shape == (5, 3, 32, 48) and a[0].dtype == np.float32
    assert a[1].shape == (5, 32, 48) and a[1].dtype == np.int64
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    # a Generator is accepted and consumed
    g = np.random.default_rng(7)
    assert np.array_equal(data.shapes(5, (32, 48), classes=3, foreground=0.3, channels=3, seed=g)[1], a[1])


def test_disk_is_a_disk():
    # oracle: the analytic disk of the same area about the mask's centroid
    _, y = data.shapes(1, 64, kind="disk", foreground=0.1, noise=0, seed=1)
    m = y[0] == 1
    cy, cx = ndimage.center_of_mass(m)
    yy, xx = np.mgrid[:64, :64]
    disk = np.hypot(yy - cy, xx - cx) <= np.sqrt(m.sum() / np.pi)
    iou = (m & disk).sum() / (m | disk).sum()
    assert iou > 0.95
    assert ndimage.label(m)[1] == 1


def test_noise_and_blur_change_the_image_not_the_labels():
    x0, y0 = data.shapes(2, 32, noise=0, blur=0, seed=0)
    x1, y1 = data.shapes(2, 32, noise=0.3, blur=2, seed=0)
    assert np.array_equal(y0, y1)
    # without noise/blur the image is a function of the label
    assert len(np.unique(x0)) == 2
    assert np.std(x1 - x0) > 0.1


def test_touching_instances_touch():
    x, y, ids = data.touching(6, 64, count=3, seed=0)
    assert ids.dtype == np.int64 and ids.shape == (6, 64, 64) and x.shape == (6, 1, 64, 64)
    assert np.array_equal(ids > 0, y == 1)
    for im in ids:
        assert set(np.unique(im)) == {0, 1, 2, 3}
        # 4-neighbour pixel pairs carrying two different instance ids
        h = (im[:, 1:] != im[:, :-1]) & (im[:, 1:] > 0) & (im[:, :-1] > 0)
        v = (im[1:] != im[:-1]) & (im[1:] > 0) & (im[:-1] > 0)
        assert h.any() or v.any()
        # the semantic mask is one connected object, the instances are each connected
        assert ndimage.label(im > 0)[1] == 1
        for k in (1, 2, 3):
            assert ndimage.label(im == k)[1] == 1


def test_vessels_are_thin():
    _, y = data.vessels(4, 64, width=2, seed=0)
    fg = y == 1
    assert 0 < fg.mean() < 0.2
    # thin: a 3x3 erosion removes nearly all of it (a 2-pixel-wide line has no 3x3 interior)
    eroded = np.stack([ndimage.binary_erosion(m, np.ones((3, 3))) for m in fg])
    assert eroded.sum() < 0.1 * fg.sum()


def test_real_images_bundled():
    x, y = data.horse()
    assert x.shape == (1, 1, 82, 100) and y.shape == (1, 82, 100)
    assert 0.2 < y.mean() < 0.5 and y[0, 0, 0] == 0   # the corner is background
    x, y = data.coins()
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert ndimage.label(y[0])[1] >= 20                # two dozen coins


def test_bad_arguments():
    with pytest.raises(ValueError, match="foreground"):
        data.shapes(2, 32, foreground=0)
    with pytest.raises(ValueError, match="foreground"):
        data.shapes(2, 32, classes=3, foreground=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="kind"):
        data.shapes(2, 32, kind="star")
    with pytest.raises(ValueError, match="size"):
        data.shapes(2, 2)
    with pytest.raises(ValueError, match="channels"):
        data.shapes(2, 32, channels=2)
    with pytest.raises(TypeError, match="seed"):
        data.shapes(2, 32, seed=1.5)


def test_png_round_trip(tmp_path):
    r = np.random.default_rng(0)
    x = (r.integers(0, 256, (3, 1, 20, 24)) / 255.0).astype(np.float32)  # exactly representable
    y = r.integers(0, 4, (3, 20, 24))
    stems = data.save_pairs(tmp_path, x, y, stems=["b", "a", "c"])
    x2, y2, s2 = data.load_pairs(tmp_path)
    order = [stems.index(s) for s in s2]
    assert s2 == ["a", "b", "c"]
    assert np.array_equal(y2, y[order]) and y2.dtype == np.int64
    assert np.allclose(x2, x[order], atol=1e-6) and x2.dtype == np.float32
    # an RGB image written independently with Pillow, mask saved as 0/255
    rgb = r.integers(0, 256, (20, 24, 3)).astype(np.uint8)
    (tmp_path / "rgb" / "images").mkdir(parents=True)
    (tmp_path / "rgb" / "masks").mkdir()
    Image.fromarray(rgb).save(tmp_path / "rgb" / "images" / "z.png")
    Image.fromarray((y[0] > 1).astype(np.uint8) * 255).save(tmp_path / "rgb" / "masks" / "z.png")
    x3, y3, _ = data.load_pairs(tmp_path / "rgb", channels=3, binary=True)
    assert x3.shape == (1, 3, 20, 24) and np.allclose(x3[0], np.moveaxis(rgb, -1, 0) / 255.0)
    assert np.array_equal(y3[0], (y[0] > 1).astype(int))


def test_png_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="images"):
        data.load_pairs(tmp_path)
    x, y = data.shapes(2, 16, seed=0)
    data.save_pairs(tmp_path, np.clip(x, 0, 1), y)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "images" / "lonely.png")
    with pytest.raises(ValueError, match="lonely"):
        data.load_pairs(tmp_path)
    Image.fromarray(np.zeros((8, 16), np.uint8)).save(tmp_path / "masks" / "lonely.png")
    with pytest.raises(ValueError, match="lonely.png is 16x16 but its mask"):
        data.load_pairs(tmp_path)
    # same size within each pair, different across pairs: needs size=
    Image.fromarray(np.zeros((8, 16), np.uint8)).save(tmp_path / "images" / "lonely.png")
    with pytest.raises(ValueError, match="size="):
        data.load_pairs(tmp_path)
    xs, ys, _ = data.load_pairs(tmp_path, size=(12, 12))
    assert xs.shape == (3, 1, 12, 12) and ys.shape == (3, 12, 12)


def test_torch_helpers():
    x, y = data.shapes(4, 16, seed=0)
    tx, ty = data.to_tensors(x, y)
    assert tx.dtype == torch.float32 and ty.dtype == torch.int64
    ds = data.SegmentationDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    assert torch.equal(xi, torch.from_numpy(x[2])) and torch.equal(yi, torch.from_numpy(y[2]))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch[0].shape == (4, 1, 16, 16)
