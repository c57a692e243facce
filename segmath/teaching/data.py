"""Synthetic and real segmentation data with exact ground truth.

Every generator is seeded with a :class:`numpy.random.Generator` and returns NumPy arrays

* ``images``: float32 ``(N, channels, H, W)`` (channels 1 or 3),
* ``labels``: int64 ``(N, H, W)`` with 0 = background and ``1 .. classes-1`` the objects,

so a loss can be called as ``loss(model(torch.from_numpy(images)), torch.from_numpy(labels))``.

How the foreground fraction is controlled exactly: each object is the sub-level set of a *gauge*
``g(x) = |x - c| / r(angle)`` (a disk, an ellipse, a star-shaped polygon or a Fourier blob all have
one).  Rather than thresholding at ``g <= 1`` we take the ``k = round(fraction * H * W)`` pixels with the
smallest gauge, so the class occupies exactly ``k`` pixels while keeping the shape (scaled about its
centre).  That is how the imbalance can go from balanced (0.5) down to 1:1000 without rounding drift.

Real images: :func:`horse` (a silhouette) and :func:`coins` come bundled with scikit-image (no download).
:func:`load_pairs` reads a folder of image/mask PNG pairs matched by file stem.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

__all__ = ["shapes", "touching", "vessels", "horse", "coins", "load_pairs", "save_pairs",
           "foreground_fraction", "to_tensors", "SegmentationDataset", "KINDS"]

KINDS = ("disk", "ellipse", "polygon", "blob", "mixed")

# Mean intensity / colour of each class before blur and noise: background dark, objects brighter.
_PALETTE = np.array([[0.15, 0.15, 0.15], [0.85, 0.35, 0.30], [0.30, 0.80, 0.35], [0.30, 0.40, 0.90],
                     [0.90, 0.85, 0.25], [0.75, 0.35, 0.85], [0.30, 0.85, 0.85], [0.60, 0.60, 0.60]])
# Grey levels (channels=1): distinct for every class, so intensity alone can tell the classes apart.
_GREY = np.array([0.15, 0.50, 0.80, 0.32, 0.65, 0.95, 0.42, 0.72])


# ----------------------------------------------------------------------------------------------
# validation (plain Python values here; segmath.validation is for loss/metric tensors)

def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__}")
    return np.random.default_rng(int(seed))


def _check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_size(size):
    if isinstance(size, (int, np.integer)):
        size = (size, size)
    if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 4
                             for s in size):
        raise ValueError(f"size must be an int or (H, W) with both >= 4, got {size!r}")
    return int(size[0]), int(size[1])


def _check_nonneg(value, name):
    if not np.isscalar(value) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_fractions(foreground, classes):
    """Per-object-class fractions ``(classes - 1,)``; a scalar is split evenly."""
    f = np.atleast_1d(np.asarray(foreground, dtype=float))
    if f.size == 1:
        f = np.full(classes - 1, f[0] / (classes - 1))
    if f.shape != (classes - 1,):
        raise ValueError(f"foreground must be a number or {classes - 1} per-class fractions "
                         f"(classes={classes}), got {foreground!r}")
    if np.any(~np.isfinite(f)) or np.any(f <= 0) or f.sum() >= 1:
        raise ValueError(f"foreground fractions must be > 0 with a sum < 1, got {foreground!r}")
    return f


# ----------------------------------------------------------------------------------------------
# gauges: g(x) <= 1 inside the unit shape, g scales linearly with distance from the centre

def _polar(yy, xx, centre, angle):
    dy, dx = yy - centre[0], xx - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy          # coordinates in the shape's rotated frame
    return u, v


def _gauge(kind, yy, xx, centre, radius, r):
    """The gauge of one random shape of ``kind`` with mean radius ``radius`` (pixels)."""
    u, v = _polar(yy, xx, centre, r.uniform(0, np.pi))
    if kind == "disk":
        return np.hypot(u, v) / radius
    if kind == "ellipse":
        e = r.uniform(1.3, 2.5)                        # axis ratio; area stays pi * radius^2
        return np.hypot(u / (radius * np.sqrt(e)), v * np.sqrt(e) / radius)
    theta = np.arctan2(v, u)
    rho = np.hypot(u, v)
    if kind == "blob":                                 # r(theta) = 1 + sum_k a_k cos(k theta + phase)
        k = np.arange(2, 6)
        a = r.uniform(0, 0.25, size=k.size) / k * 2
        ph = r.uniform(0, 2 * np.pi, size=k.size)
        rad = 1 + np.tensordot(np.cos(np.multiply.outer(theta, k) + ph), a, axes=([-1], [0]))
        return rho / (radius * rad)
    if kind == "polygon":
        return rho / (radius * _polygon_radius(theta, r))
    raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")


def _polygon_radius(theta, r):
    """Distance from the centre to a random star-shaped polygon's edge along direction theta."""
    m = int(r.integers(3, 8))
    ang = np.sort(r.uniform(0, 2 * np.pi, m)) if m > 3 else np.array([0, 2.1, 4.2]) + r.uniform(0, 0.3, 3)
    rad = r.uniform(0.7, 1.3, m)
    vert = np.stack([rad * np.cos(ang), rad * np.sin(ang)], -1)
    t = np.mod(theta, 2 * np.pi)
    i = (np.searchsorted(ang, t) - 1) % m              # edge i -> i+1 contains direction t
    a, b = vert[i], vert[(i + 1) % m]
    d = np.stack([np.cos(t), np.sin(t)], -1)
    e = b - a
    cross = lambda p, q: p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]  # noqa: E731
    # ray s*d meets segment a + u e where s = (a x e) / (d x e)
    return np.abs(cross(a, e) / np.where(np.abs(cross(d, e)) < 1e-12, 1e-12, cross(d, e)))


def _smallest(score, k, taken, r):
    """Boolean mask of the k pixels with the smallest score among those not ``taken`` (random ties)."""
    s = np.where(taken, np.inf, score + 1e-9 * r.random(score.shape))
    flat = s.ravel()
    idx = np.argpartition(flat, k - 1)[:k]
    out = np.zeros(flat.shape, bool)
    out[idx] = True
    return out.reshape(score.shape)


# ----------------------------------------------------------------------------------------------
# rendering

def _render(labels, r, *, channels, noise, blur, contrast=1.0):
    """Class-wise colour (or grey level) -> Gaussian blur -> Gaussian noise."""
    k = np.arange(labels.max() + 1)
    pal = _GREY[k % len(_GREY), None] if channels == 1 else _PALETTE[k % len(_PALETTE)]
    base = 0.15 + contrast * (pal - 0.15)
    img = np.moveaxis(base[labels], -1, 1)             # (N, channels, H, W)
    if blur > 0:
        img = ndimage.gaussian_filter(img, sigma=(0, 0, blur, blur))
    if noise > 0:
        img = img + noise * r.standard_normal(img.shape)
    return img.astype(np.float32)


def _check_render(channels, noise, blur):
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    return _check_nonneg(noise, "noise"), _check_nonneg(blur, "blur")


# ----------------------------------------------------------------------------------------------
# generators

def shapes(n=16, size=64, *, classes=2, foreground=0.1, kind="mixed", objects=1, noise=0.1, blur=1.0,
           channels=1, contrast=1.0, seed=0):
    """Images of random shapes whose classes cover an exact fraction of the pixels.

    Args:
        n: number of images.
        size: ``H`` (square) or ``(H, W)``.
        classes: number of classes including the background 0 (2 = binary).
        foreground: fraction of pixels in the object classes: a number (split evenly over the
            ``classes - 1`` object classes) or one fraction per object class.  0.5 is balanced;
            0.001 is 1:1000.  Each class gets exactly ``max(1, round(f * H * W))`` pixels.
        kind: ``"disk"``, ``"ellipse"``, ``"polygon"``, ``"blob"`` or ``"mixed"`` (random per object).
        objects: objects per class per image (their areas share the class's pixels).
        noise: standard deviation of additive Gaussian noise.
        blur: Gaussian blur sigma (pixels) applied before the noise.
        channels: 1 (grey) or 3 (a colour per class).
        contrast: 1 = palette intensities; smaller values make the classes harder to tell apart.
        seed: int or ``numpy.random.Generator``.

    Returns:
        ``(images float32 (N, channels, H, W), labels int64 (N, H, W))``.

    Example:
        >>> from segmath.teaching import data
        >>> x, y = data.shapes(2, 32, foreground=0.25, seed=0)
        >>> x.shape, x.dtype, y.shape, y.dtype, float((y == 1).mean())
        ((2, 1, 32, 32), dtype('float32'), (2, 32, 32), dtype('int64'), 0.25)
    """
    r = _rng(seed)
    n = _check_int(n, "n", 1)
    h, w = _check_size(size)
    classes = _check_int(classes, "classes", 2)
    objects = _check_int(objects, "objects", 1)
    fr = _check_fractions(foreground, classes)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    noise, blur = _check_render(channels, noise, blur)
    counts = np.maximum(1, np.round(fr * h * w)).astype(int)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    labels = np.zeros((n, h, w), np.int64)
    for i in range(n):
        labels[i] = _one_image(r, yy, xx, counts, kind, objects)
    return _render(labels, r, channels=channels, noise=noise, blur=blur, contrast=contrast), labels


def _one_image(r, yy, xx, counts, kind, objects):
    h, w = yy.shape
    out = np.zeros((h, w), np.int64)
    taken = np.zeros((h, w), bool)
    # largest classes first, so small classes are not squeezed out by big ones
    for c in np.argsort(-counts, kind="stable"):
        rad = np.sqrt(counts[c] / objects / np.pi)
        score = np.full((h, w), np.inf)
        for _ in range(objects):
            k = kind if kind != "mixed" else KINDS[int(r.integers(0, 4))]
            margin = np.minimum(rad * 1.2, np.array([h, w]) / 2 - 1)
            centre = r.uniform(margin, np.array([h, w]) - 1 - margin)
            score = np.minimum(score, _gauge(k, yy, xx, centre, max(rad, 0.5), r))
        mask = _smallest(score, int(counts[c]), taken, r)
        out[mask] = c + 1
        taken |= mask
    return out


def touching(n=16, size=64, *, count=3, radius=None, overlap=0.35, noise=0.1, blur=1.0, channels=1,
             seed=0):
    """Disks that touch: a chain of ``count`` instances split along Voronoi lines.

    Consecutive disk centres are ``2 r (1 - overlap)`` apart, so the disks overlap; each pixel of the
    union goes to the nearest centre, which leaves neighbouring instances sharing a straight border.
    The semantic labels merge them (1 = object), the instance ids keep them apart: a loss that only
    sees semantic labels cannot separate them (chapter 10).

    Returns:
        ``(images float32 (N, channels, H, W), labels int64 (N, H, W), instances int64 (N, H, W))``
        with instance ids ``1..count`` (0 = background).

    Example:
        >>> from segmath.teaching import data
        >>> x, y, ids = data.touching(1, 48, count=2, seed=0)
        >>> int(ids.max()), bool(((ids > 0) == (y == 1)).all())
        (2, True)
    """
    r = _rng(seed)
    n = _check_int(n, "n", 1)
    h, w = _check_size(size)
    count = _check_int(count, "count", 1)
    if not 0 < overlap < 1:
        raise ValueError(f"overlap must lie in (0, 1), got {overlap!r}")
    noise, blur = _check_render(channels, noise, blur)
    step = 2 * (1 - overlap)                            # centre spacing in radii
    rad = radius if radius is not None else 0.9 * min(h, w) / (2 + step * (count - 1)) / 1.1
    if rad <= 1:
        raise ValueError(f"radius must be > 1 pixel; {count} instances do not fit in {(h, w)}")
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    ids = np.zeros((n, h, w), np.int64)
    for i in range(n):
        ids[i] = _chain(r, yy, xx, count, rad, step)
    labels = (ids > 0).astype(np.int64)
    # instances share the class intensity with a small per-instance jitter (hard to split by eye)
    jitter = 1 + 0.08 * r.standard_normal((n, count + 1))
    img = _render(labels, r, channels=channels, noise=0.0, blur=0.0)
    img = img * np.take_along_axis(jitter, ids.reshape(n, -1), 1).reshape(n, 1, h, w)
    if blur > 0:
        img = ndimage.gaussian_filter(img, sigma=(0, 0, blur, blur))
    if noise > 0:
        img = img + noise * r.standard_normal(img.shape)
    return img.astype(np.float32), labels, ids


def _chain(r, yy, xx, count, rad, step):
    h, w = yy.shape
    ang = r.uniform(0, 2 * np.pi)
    d = np.array([np.sin(ang), np.cos(ang)]) * rad * step
    offs = (np.arange(count) - (count - 1) / 2)[:, None] * d
    span = np.abs(offs).max(0) + rad + 1
    mid = r.uniform(span, np.array([h, w]) - 1 - span) if np.all(span < np.array([h, w]) / 2) \
        else np.array([h, w]) / 2
    centres = mid + offs
    dist = np.hypot(yy[None] - centres[:, 0, None, None], xx[None] - centres[:, 1, None, None])
    near = dist.argmin(0)
    return np.where(dist.min(0) <= rad, near + 1, 0)


def vessels(n=16, size=64, *, count=3, width=2.0, noise=0.1, blur=0.7, channels=1, seed=0):
    """Thin curvilinear structures (vessels, cracks): smooth random curves of a given width.

    Each curve is a random walk with momentum; pixels within ``width / 2`` of it are foreground.
    Thin structures are where overlap losses and HD disagree most and where clDice (chapter 9) helps.

    Returns:
        ``(images float32 (N, channels, H, W), labels int64 (N, H, W))`` with labels in {0, 1}.

    Example:
        >>> from segmath.teaching import data
        >>> x, y = data.vessels(1, 64, width=2, seed=0)
        >>> 0 < float(y.mean()) < 0.2
        True
    """
    r = _rng(seed)
    n = _check_int(n, "n", 1)
    h, w = _check_size(size)
    count = _check_int(count, "count", 1)
    width = _check_nonneg(width, "width")
    if width < 1:
        raise ValueError(f"width must be >= 1 pixel, got {width!r}")
    noise, blur = _check_render(channels, noise, blur)
    labels = np.zeros((n, h, w), np.int64)
    for i in range(n):
        centre = np.zeros((h, w), bool)
        for _ in range(count):
            p = _walk(r, h, w)
            centre[p[:, 0], p[:, 1]] = True
        # distance to the nearest curve pixel <= width/2 (the curve itself is 1 pixel wide)
        labels[i] = ndimage.distance_transform_edt(~centre) <= max(width / 2 - 0.5, 0) + 1e-9
    return _render(labels, r, channels=channels, noise=noise, blur=blur), labels


def _walk(r, h, w):
    steps = 4 * (h + w)
    pos = r.uniform([0, 0], [h - 1, w - 1])
    ang = r.uniform(0, 2 * np.pi)
    turn = np.cumsum(r.normal(0, 0.12, steps))          # smoothly varying heading
    path = pos + 0.5 * np.cumsum(np.stack([np.sin(ang + turn), np.cos(ang + turn)], -1), 0)
    inside = (path[:, 0] >= 0) & (path[:, 0] <= h - 1) & (path[:, 1] >= 0) & (path[:, 1] <= w - 1)
    return np.round(path[inside]).astype(int)


# ----------------------------------------------------------------------------------------------
# real images bundled with scikit-image (no download)

def _resize(a, size, order):
    from skimage.transform import resize
    return resize(a, size, order=order, preserve_range=True, anti_aliasing=(order > 0))


def horse(size=(82, 100), *, noise=0.15, blur=1.0, seed=0):
    """The scikit-image horse silhouette as a target mask, with a noisy rendered image.

    ``skimage.data.horse()`` (328 x 400, bundled) is True on the background; the mask is its
    complement.  A real outline has thin legs, concavities and a tail: exactly where Dice and the
    Hausdorff distance disagree.

    Returns:
        ``(images float32 (1, 1, H, W), labels int64 (1, H, W))``.

    Example:
        >>> from segmath.teaching import data
        >>> x, y = data.horse()
        >>> x.shape, y.shape, 0.2 < float(y.mean()) < 0.5
        ((1, 1, 82, 100), (1, 82, 100), True)
    """
    from skimage import data as skd
    mask = ~skd.horse()
    if size is not None:
        mask = _resize(mask.astype(float), _check_size(size), order=0) > 0.5
    labels = mask.astype(np.int64)[None]
    noise, blur = _check_render(1, noise, blur)
    return _render(labels, _rng(seed), channels=1, noise=noise, blur=blur), labels


def coins(size=(152, 192)):
    """The scikit-image coins photograph with a reference mask (not a manual ground truth).

    The mask comes from a documented recipe: Sobel edges -> watershed from markers at the darkest
    (background < 30) and brightest (coins > 150) grey levels -> hole filling, the classic
    scikit-image segmentation of this image.  Use it as a *real* image whose target is plausible,
    not as a benchmark.

    Returns:
        ``(images float32 (1, 1, H, W) in [0, 1], labels int64 (1, H, W))``.

    Example:
        >>> from segmath.teaching import data
        >>> x, y = data.coins()
        >>> x.shape, 0.1 < float(y.mean()) < 0.5
        ((1, 1, 152, 192), True)
    """
    from skimage import data as skd
    from skimage.filters import sobel
    from skimage.segmentation import watershed
    img = skd.coins().astype(float)
    markers = np.zeros(img.shape, np.int64)
    markers[img < 30] = 1
    markers[img > 150] = 2
    mask = ndimage.binary_fill_holes(watershed(sobel(img), markers) == 2)
    if size is not None:
        size = _check_size(size)
        img = _resize(img, size, order=1)
        mask = _resize(mask.astype(float), size, order=0) > 0.5
    return (img / 255.0).astype(np.float32)[None, None], mask.astype(np.int64)[None]


# ----------------------------------------------------------------------------------------------
# a folder of PNG pairs

_IMAGE_SUFFIXES = (".png",)


def _stems(folder):
    return {p.stem: p for p in sorted(Path(folder).iterdir()) if p.suffix.lower() in _IMAGE_SUFFIXES}


def load_pairs(root, *, images="images", masks="masks", channels=1, binary=False, size=None):
    """Load ``root/images/<stem>.png`` with ``root/masks/<stem>.png`` into arrays.

    Masks hold class labels as grey values (0, 1, 2, ...); ``binary=True`` maps every non-zero
    value to 1 (for masks saved as 0/255).  Images are scaled to [0, 1].

    Args:
        root: folder containing the two sub-folders.
        images, masks: sub-folder names.
        channels: 1 (converted to grey) or 3 (RGB).
        binary: map non-zero mask values to 1.
        size: optional ``(H, W)`` to resize every pair to (bilinear image, nearest mask);
            without it all pairs must already share one size.

    Returns:
        ``(images float32 (N, channels, H, W), labels int64 (N, H, W), stems list[str])``
        in sorted stem order.

    Raises:
        FileNotFoundError: a sub-folder is missing or holds no PNG.
        ValueError: an image without a mask (or the reverse), an image and mask of different
            sizes, or pairs of different sizes without ``size``; the message names the files.

    Example:
        >>> import tempfile, numpy as np
        >>> from segmath.teaching import data
        >>> x, y = data.shapes(2, 16, seed=0)
        >>> d = tempfile.mkdtemp(); _ = data.save_pairs(d, np.clip(x, 0, 1), y)
        >>> x2, y2, stems = data.load_pairs(d)
        >>> stems, bool((y2 == y).all())
        (['000', '001'], True)
    """
    from PIL import Image
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    root = Path(root)
    dirs = {}
    for name, sub in (("images", images), ("masks", masks)):
        d = root / sub
        if not d.is_dir():
            raise FileNotFoundError(f"{name} folder {d} does not exist")
        dirs[name] = _stems(d)
        if not dirs[name]:
            raise FileNotFoundError(f"{name} folder {d} holds no .png file")
    only_img = sorted(set(dirs["images"]) - set(dirs["masks"]))
    only_msk = sorted(set(dirs["masks"]) - set(dirs["images"]))
    if only_img or only_msk:
        raise ValueError("image/mask files must pair up by stem; "
                         f"images without a mask: {only_img or 'none'}; masks without an image: "
                         f"{only_msk or 'none'}")
    size = None if size is None else _check_size(size)
    xs, ys, stems = [], [], sorted(dirs["images"])
    for s in stems:
        im = Image.open(dirs["images"][s]).convert("L" if channels == 1 else "RGB")
        mk = Image.open(dirs["masks"][s])
        if mk.mode not in ("L", "P", "I", "I;16", "1"):
            mk = mk.convert("L")
        if im.size != mk.size:
            raise ValueError(f"image {dirs['images'][s].name} is {im.size[1]}x{im.size[0]} but its mask "
                             f"{dirs['masks'][s].name} is {mk.size[1]}x{mk.size[0]} (H x W)")
        if size is not None:
            im = im.resize(size[::-1], Image.BILINEAR)
            mk = mk.resize(size[::-1], Image.NEAREST)
        xs.append(np.asarray(im, np.float32) / 255.0)
        ys.append(np.asarray(mk).astype(np.int64))
    shapes_ = sorted({y.shape for y in ys})
    if len(shapes_) > 1:
        raise ValueError(f"pairs have different sizes {shapes_}; pass size=(H, W) to resize them")
    x = np.stack(xs)
    x = x[:, None] if channels == 1 else np.moveaxis(x, -1, 1)
    y = np.stack(ys)
    if binary:
        y = (y != 0).astype(np.int64)
    return np.ascontiguousarray(x), y, stems


def save_pairs(root, images, labels, *, stems=None, images_dir="images", masks_dir="masks"):
    """Write ``images`` (values in [0, 1]) and integer ``labels`` as PNG pairs that :func:`load_pairs` reads.

    Returns the list of stems written (``"000", "001", ...`` by default).
    """
    from PIL import Image
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (N, 1 or 3, H, W), got {images.shape}")
    if labels.shape != (images.shape[0],) + images.shape[2:]:
        raise ValueError(f"labels must have shape {(images.shape[0],) + images.shape[2:]}, got {labels.shape}")
    if images.min() < 0 or images.max() > 1:
        raise ValueError("images must hold values in [0, 1] (clip them first)")
    if labels.min() < 0 or labels.max() > 255:
        raise ValueError("labels must lie in [0, 255] to fit an 8-bit PNG")
    stems = stems or [f"{i:03d}" for i in range(len(images))]
    root = Path(root)
    (root / images_dir).mkdir(parents=True, exist_ok=True)
    (root / masks_dir).mkdir(parents=True, exist_ok=True)
    for s, x, y in zip(stems, images, labels):
        px = np.round(x * 255).astype(np.uint8)
        px = px[0] if px.shape[0] == 1 else np.moveaxis(px, 0, -1)
        Image.fromarray(px).save(root / images_dir / f"{s}.png")
        Image.fromarray(y.astype(np.uint8)).save(root / masks_dir / f"{s}.png")
    return list(stems)


# ----------------------------------------------------------------------------------------------
# helpers

def foreground_fraction(labels, classes=None):
    """Fraction of pixels in each class ``(C,)`` over the whole array (class 0 first)."""
    labels = np.asarray(labels)
    c = int(labels.max()) + 1 if classes is None else classes
    return np.bincount(labels.ravel(), minlength=c)[:c] / labels.size


def to_tensors(images, labels, *more, device=None):
    """NumPy arrays -> torch tensors (float32 images, int64 labels) on ``device``."""
    import torch
    out = [torch.as_tensor(np.ascontiguousarray(images), dtype=torch.float32, device=device),
           torch.as_tensor(np.ascontiguousarray(labels), dtype=torch.int64, device=device)]
    out += [torch.as_tensor(np.ascontiguousarray(m), device=device) for m in more]
    return tuple(out)


def SegmentationDataset(images, labels, transform=None):
    """A ``torch.utils.data.Dataset`` of ``(image (C, H, W) float32, label (H, W) int64)`` pairs.

    ``transform(image, label) -> (image, label)`` is applied per item (e.g. random flips).
    (A factory so that importing :mod:`segmath.teaching.data` does not import torch.)
    """
    import torch
    x, y = to_tensors(images, labels)
    if len(x) != len(y):
        raise ValueError(f"images and labels must have the same length, got {len(x)} and {len(y)}")

    class _Dataset(torch.utils.data.Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return (x[i], y[i]) if transform is None else transform(x[i], y[i])

    return _Dataset()
