"""segmath evaluate: files are untrusted input (pickles, truncated and lying files, size limits)."""
import gzip
import pickle

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from segmath.evaluate.errors import FileProblem
from segmath.evaluate.io import pair_cases, read_label_map, split_name
from segmath.evaluate.cli import main


class Boom:
    """Unpickling this would run ``touch``: the reader must never unpickle."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_npy_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    np.save(tmp_path / "evil.npy", np.array([Boom(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(FileProblem, match="pickle") as info:
        read_label_map(tmp_path / "evil.npy")
    assert info.value.path == tmp_path / "evil.npy" and not marker.exists()


def test_pickled_npz_member_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    np.savez(tmp_path / "evil.npz", seg=np.array([Boom(str(marker))], dtype=object))
    with pytest.raises(FileProblem, match="pickle"):
        read_label_map(tmp_path / "evil.npz")
    assert not marker.exists()


def test_a_raw_pickle_renamed_npy_is_a_clear_error(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "x.npy").write_bytes(pickle.dumps(Boom(str(marker))))
    with pytest.raises(FileProblem, match="cannot be read"):
        read_label_map(tmp_path / "x.npy")
    assert not marker.exists()


def test_truncated_png_is_an_error_not_a_partial_image(tmp_path):
    img = np.random.default_rng(0).integers(0, 3, (64, 64), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileProblem, match="cannot be read") as info:
        read_label_map(tmp_path / "a.png")
    assert str(tmp_path / "a.png") in str(info.value)


def test_nifti_header_claiming_more_data_than_the_file_holds(tmp_path):
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.uint8), np.eye(4)), tmp_path / "v.nii")
    raw = bytearray((tmp_path / "v.nii").read_bytes())
    hdr = nib.Nifti1Header.from_fileobj(__import__("io").BytesIO(bytes(raw[:348])))
    hdr.set_data_shape((8, 8, 80))                     # the header now lies: 10x the voxels
    raw[:348] = hdr.binaryblock
    (tmp_path / "v.nii").write_bytes(bytes(raw))
    with pytest.raises(FileProblem, match="cannot be read"):
        read_label_map(tmp_path / "v.nii")


def test_header_shape_over_the_limit_is_refused_before_reading(tmp_path):
    # a gzip "bomb": a tiny file whose header claims 4096^3 voxels; refused from the header alone
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.uint8)
    hdr.set_data_shape((4096, 4096, 4096))
    with gzip.open(tmp_path / "bomb.nii.gz", "wb") as fh:
        fh.write(hdr.binaryblock + b"\0" * 4 + b"\0" * 1000)
    with pytest.raises(FileProblem, match="limit"):
        read_label_map(tmp_path / "bomb.nii.gz")
    np.save(tmp_path / "big.npy", np.zeros((100, 100), np.uint8))
    with pytest.raises(FileProblem, match="limit"):
        read_label_map(tmp_path / "big.npy", max_elements=1000)
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((100, 100), np.uint8))
    with pytest.raises(FileProblem, match="limit"):
        read_label_map(tmp_path / "big.tif", max_elements=1000)


def test_npz_with_several_arrays_names_them(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros(3, np.uint8), b=np.zeros(3, np.uint8))
    with pytest.raises(FileProblem, match="a.npy, b.npy"):
        read_label_map(tmp_path / "two.npz")


def test_file_with_a_wrong_ending_is_an_error(tmp_path):
    tifffile.imwrite(tmp_path / "a.png", np.zeros((4, 4), np.uint8))  # a TIFF named .png
    with pytest.raises(FileProblem):
        read_label_map(tmp_path / "a.png")


def test_readers_return_the_written_labels(tmp_path):
    a = np.random.default_rng(1).integers(0, 300, (5, 7)).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "a.tif", a)
    np.save(tmp_path / "a.npy", a)
    np.savez_compressed(tmp_path / "a.npz", x=a)
    nib.save(nib.Nifti1Image(a[..., None], np.diag([0.5, 2.0, 3.0, 1.0])), tmp_path / "a.nii.gz")
    for name in ("a.png", "a.tif", "a.npy", "a.npz"):
        m = read_label_map(tmp_path / name)
        assert m.array.dtype == np.int64 and np.array_equal(m.array, a) and m.spacing is None
    m = read_label_map(tmp_path / "a.nii.gz")
    assert np.array_equal(m.array[..., 0], a) and m.spacing == (0.5, 2.0, 3.0)


def test_case_ids_and_pairing(tmp_path):
    assert split_name("c.1.nii.gz") == ("c.1", ".nii.gz") and split_name("c.TIF") == ("c", ".tif")
    assert split_name("notes.txt") == ("notes.txt", None)
    for d in ("p", "r"):
        (tmp_path / d).mkdir()
    for name in ("a.png", "b.npy", "summary.json"):
        (tmp_path / "r" / name).write_bytes(b"")
    for name in ("a.npy", "z.png", ".hidden.png"):
        (tmp_path / "p" / name).write_bytes(b"")
    cases, extra = pair_cases(tmp_path / "p", tmp_path / "r")
    assert [(c.id, c.pred is not None) for c in cases] == [("a", True), ("b", False)]
    assert extra == [str(tmp_path / "p" / "z.png")]


def test_cli_names_every_bad_file_of_a_tampered_folder(tmp_path, capsys):
    for d in ("p", "r"):
        (tmp_path / d).mkdir()
    good = np.zeros((6, 6), np.uint8)
    good[1:4, 1:4] = 1
    for i in range(3):
        Image.fromarray(good).save(tmp_path / "r" / f"c{i}.png")
    Image.fromarray(good).save(tmp_path / "p" / "c0.png")
    np.save(tmp_path / "p" / "c1.npy", np.array([Boom(str(tmp_path / "pwned"))], dtype=object),
            allow_pickle=True)
    (tmp_path / "p" / "c2.png").write_bytes((tmp_path / "r" / "c2.png").read_bytes()[:40])
    code = main(["evaluate", str(tmp_path / "p"), str(tmp_path / "r"), "-l", "1",
                 "--csv", str(tmp_path / "o.csv"), "--json", str(tmp_path / "o.json")])
    err = capsys.readouterr().err
    assert code == 1 and "c1.npy" in err and "c2.png" in err and "c0" not in err
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "pwned").exists()
