"""Reading label maps from files, pairing predictions with references, writing outputs atomically.

Files are untrusted input (a folder of predictions can come from anyone):

* NPY/NPZ are read with ``allow_pickle=False``; an object array is refused before any
  data is read.  Nothing is unpickled.
* Every reader checks the number of elements from the file's header against
  ``max_elements`` *before* reading the data, so a header that claims a huge image (a
  decompression bomb, a lying NIfTI header) is refused instead of exhausting memory.
  Pillow keeps its own decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``).
* Any failure of a reader becomes a :class:`~segmath.evaluate.errors.FileProblem` naming
  the file; a truncated file is an error, never a partial image.

A label map is an integer (or boolean) array; floating-point files are accepted only when
every value is an integer (NIfTI label maps are often stored as floats).
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FileProblem, UsageError

#: recognised file endings (lower case), longest first so ".nii.gz" wins over ".gz"
SUFFIXES = (".nii.gz", ".tiff", ".nii", ".png", ".tif", ".npy", ".npz")

#: default limit on the elements of one label map (about 1e9: a 1024^3 volume)
MAX_ELEMENTS = 2 ** 30

_PIL_LABEL_MODES = {"1", "L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N"}


@dataclass
class LabelMap:
    """A label map read from ``path``: ``array`` int64 and the spacing from its header (or None)."""
    path: Path
    array: np.ndarray
    spacing: tuple | None = None


def split_name(name: str):
    """``"case_01.nii.gz"`` -> ``("case_01", ".nii.gz")``; ``(name, None)`` for other files."""
    low = name.lower()
    for suffix in SUFFIXES:
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return name, None


# -- readers -------------------------------------------------------------------------

def read_label_map(path, max_elements: int = MAX_ELEMENTS) -> LabelMap:
    """Read one label map; any failure is a :class:`FileProblem` naming ``path``."""
    path = Path(path)
    _, suffix = split_name(path.name)
    reader = _READERS.get(suffix)
    if reader is None:
        raise FileProblem(path, f"unsupported file type; expected one of {', '.join(SUFFIXES)}")
    try:
        array, spacing = reader(path, max_elements)
    except FileProblem:
        raise
    except MemoryError:
        raise FileProblem(path, "not enough memory to read it") from None
    except Exception as err:  # noqa: BLE001 - a reader's failure on untrusted data is a data error
        raise FileProblem(path, f"cannot be read ({type(err).__name__}: {err})") from None
    return LabelMap(path, as_labels(array, path), spacing)


def as_labels(array, path) -> np.ndarray:
    """An integer label map as int64; refuse anything else."""
    array = np.asarray(array)
    if array.ndim < 1 or array.size == 0:
        raise FileProblem(path, f"holds an empty array of shape {array.shape}")
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.unsignedinteger) and array.dtype.itemsize == 8 \
                and array.max() > np.iinfo(np.int64).max:
            raise FileProblem(path, "holds labels too large for int64")
        return array.astype(np.int64, copy=False)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            bad = array[~(np.isfinite(array) & (array == np.round(array)))].ravel()[:3]
            raise FileProblem(path, f"is not a label map: non-integer values such as {bad.tolist()}")
        return array.astype(np.int64)
    raise FileProblem(path, f"is not a label map: dtype {array.dtype}")


def _check_size(path, shape, max_elements):
    n = int(np.prod(shape, dtype=object)) if len(shape) else 1
    if n > max_elements:
        raise FileProblem(path, f"header claims shape {tuple(shape)} ({n} elements), more than the limit "
                                f"of {max_elements} (max_elements)")


def _read_png(path, max_elements):
    from PIL import Image
    with Image.open(path) as im:                      # keeps Pillow's decompression-bomb check
        if im.format != "PNG":
            raise FileProblem(path, f"is not a PNG file (Pillow reads it as {im.format})")
        if im.mode not in _PIL_LABEL_MODES:
            raise FileProblem(path, f"is not a label map: image mode {im.mode} (labels need a single "
                                    "channel: L, P, I or I;16)")
        _check_size(path, im.size, max_elements)
        im.load()                                     # raises on truncated data
        return np.asarray(im), None


def _read_tiff(path, max_elements):
    import tifffile
    with tifffile.TiffFile(path) as tif:
        if len(tif.series) != 1:
            raise FileProblem(path, f"holds {len(tif.series)} image series; expected one label map")
        series = tif.series[0]
        _check_size(path, series.shape, max_elements)
        return series.asarray(), None


def _npy_header(fh, path, max_elements):
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise FileProblem(path, f"unknown NPY format version {version}")
    if dtype.hasobject:
        raise FileProblem(path, "holds Python objects (a pickle); refused: label maps are numeric arrays")
    _check_size(path, shape, max_elements)


def _read_npy(path, max_elements):
    with open(path, "rb") as fh:
        _npy_header(fh, path, max_elements)
    return np.load(path, allow_pickle=False), None


def _read_npz(path, max_elements):
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if n.endswith(".npy")]
        if len(names) != 1:
            raise FileProblem(path, f"holds {len(names)} arrays ({', '.join(names) or 'none'}); "
                                    "expected exactly one label map")
        with zf.open(names[0]) as fh:                 # reads only the member's header
            _npy_header(fh, path, max_elements)
    with np.load(path, allow_pickle=False) as npz:
        return npz[names[0][: -len(".npy")]], None


def _read_nifti(path, max_elements):
    import nibabel as nib
    img = nib.load(str(path))
    shape = tuple(int(s) for s in img.shape)
    _check_size(path, shape, max_elements)
    zooms = tuple(float(z) for z in img.header.get_zooms())
    data = np.asanyarray(img.dataobj)                 # raises when the file is shorter than the header says
    # drop trailing unit axes beyond the third (a "time" axis of length 1 is common)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    spacing = zooms[: data.ndim] if len(zooms) >= data.ndim else None
    if spacing is not None and not all(s > 0 and np.isfinite(s) for s in spacing):
        raise FileProblem(path, f"header has an invalid voxel spacing {spacing}")
    return np.array(data), spacing


_READERS = {".png": _read_png, ".tif": _read_tiff, ".tiff": _read_tiff, ".npy": _read_npy,
            ".npz": _read_npz, ".nii": _read_nifti, ".nii.gz": _read_nifti}


# -- pairing -------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One reference and its prediction (``pred`` None when it is missing)."""
    id: str
    ref: str
    pred: str | None


def label_files(folder, role: str) -> dict:
    """Case id -> path of every label map directly inside ``folder`` (or ``folder`` itself if a file)."""
    folder = Path(folder)
    if folder.is_file():
        case, suffix = split_name(folder.name)
        if suffix is None:
            raise UsageError(f"{role} {folder} is not a supported label map ({', '.join(SUFFIXES)})")
        return {case: folder}
    if not folder.is_dir():
        raise UsageError(f"{role} folder {folder} does not exist")
    found: dict = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        case, suffix = split_name(entry.name)
        if suffix is None:
            continue
        if case in found:
            raise UsageError(f"{role} folder {folder} holds two files for case {case!r}: "
                             f"{found[case].name} and {entry.name}")
        found[case] = entry
    if not found:
        raise UsageError(f"{role} folder {folder} holds no label maps ({', '.join(SUFFIXES)})")
    return found


def pair_cases(pred, ref):
    """Pair predictions with references by case id (the file name without its ending).

    Returns ``(cases, extra)``: one :class:`Case` per reference, in sorted order (``pred``
    None where the prediction is missing), and the predictions that have no reference.
    """
    refs = label_files(ref, "reference")
    preds = label_files(pred, "prediction")
    if len(refs) == 1 and len(preds) == 1 and Path(ref).is_file() and Path(pred).is_file():
        (case, r), (_, p) = next(iter(refs.items())), next(iter(preds.items()))
        return [Case(case, str(r), str(p))], []
    cases = [Case(c, str(refs[c]), str(preds[c]) if c in preds else None) for c in sorted(refs)]
    extra = [str(preds[c]) for c in sorted(preds) if c not in refs]
    return cases, extra


# -- atomic output -------------------------------------------------------------------

def write_atomically(outputs: dict):
    """Write ``{path: text}``: every file goes to a temporary file first, then all are renamed.

    A failure before the renames leaves no output at all (and no temporary file).
    """
    temps = []
    try:
        for path, text in outputs.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append((tmp, path))
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, path in temps:
            os.replace(tmp, path)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
