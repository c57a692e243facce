"""segmath evaluate: per-case values against independent oracles, the CLI, outputs, error paths.

Oracles: scikit-learn's f1/jaccard on the flattened binary masks; SciPy for the surface
distances (inner contours by erosion, all point-to-point distances by ``cdist``); and the
direct segmath call on the same masks.  Files are written with Pillow, tifffile, nibabel
and NumPy into ``tmp_path``; the images are tiny so the module runs in seconds.
"""
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy.spatial.distance import cdist
from sklearn.metrics import f1_score, jaccard_score

import segmath
from oracles import contour
from segmath.evaluate import DataError, UsageError, evaluate_folder
from segmath.evaluate.cli import main

ROOT = Path(__file__).resolve().parents[1]


# -- data -----------------------------------------------------------------------------

def label_pair(rng, shape=(24, 28), shift=1, noise=0.02, labels=(1, 2)):
    """A reference with two blobs and a shifted, noisy prediction."""
    ref = np.zeros(shape, np.uint8)
    ref[3:12, 4:14] = labels[0]
    ref[10:20, 15:25] = labels[1]
    pred = np.roll(ref, shift, axis=0)
    flip = rng.random(shape) < noise
    pred[flip] = rng.choice(np.array((0,) + tuple(labels), np.uint8), size=int(flip.sum()))
    return pred, ref


def write_png_folders(tmp_path, n=4, seed=0, **kw):
    rng = np.random.default_rng(seed)
    pred_dir, ref_dir = tmp_path / "pred", tmp_path / "ref"
    pred_dir.mkdir()
    ref_dir.mkdir()
    arrays = {}
    for i in range(n):
        pred, ref = label_pair(rng, shift=i % 3 - 1, **kw)
        Image.fromarray(pred).save(pred_dir / f"case_{i}.png")
        Image.fromarray(ref).save(ref_dir / f"case_{i}.png")
        arrays[f"case_{i}"] = (pred.astype(np.int64), ref.astype(np.int64))
    return pred_dir, ref_dir, arrays


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# -- independent oracles ------------------------------------------------------------------

def directed_distances(a, b, spacing):
    """Distance from every contour point of ``a`` to the nearest contour point of ``b`` (brute force)."""
    pa = np.argwhere(contour(a)) * np.asarray(spacing)
    pb = np.argwhere(contour(b)) * np.asarray(spacing)
    return cdist(pa, pb).min(axis=1)


def oracle(pred, ref, spacing, metric):
    p, r = pred.astype(bool), ref.astype(bool)
    assert p.any() and r.any()                 # the oracles below are for non-empty masks
    if metric == "dice":
        return f1_score(r.ravel(), p.ravel())
    if metric == "iou":
        return jaccard_score(r.ravel(), p.ravel())
    d_pr, d_rp = directed_distances(p, r, spacing), directed_distances(r, p, spacing)
    if metric == "hd":
        return max(d_pr.max(), d_rp.max())
    if metric == "hd95":
        return max(np.percentile(d_pr, 95), np.percentile(d_rp, 95))
    if metric == "assd":                       # segmath's default: pooled over both directions
        return np.concatenate([d_pr, d_rp]).mean()
    if metric == "nsd":                        # tolerance 1
        return (np.sum(d_pr <= 1.0) + np.sum(d_rp <= 1.0)) / (d_pr.size + d_rp.size)
    raise AssertionError(metric)


def direct(pred, ref, spacing, metric):
    """The same value from a direct segmath call on the binary masks."""
    p, r = pred[None].astype(np.int64), ref[None].astype(np.int64)
    if metric in ("dice", "iou"):
        fn = segmath.dice_score if metric == "dice" else segmath.iou
        return float(fn(p, r, num_classes=2, average="binary"))
    fn = {"hd": segmath.hausdorff, "hd95": segmath.hd95, "assd": segmath.assd, "nsd": segmath.nsd}[metric]
    return float(fn(p, r, num_classes=2, spacing=spacing))


METRICS = ("dice", "iou", "hd", "hd95", "assd", "nsd")


def check_rows_against_oracles(rows, arrays, classes, spacing):
    assert len(rows) == len(arrays) * len(classes)
    for row in rows:
        pred, ref = arrays[row["case"]]
        members = classes[row["class"]]
        p, r = np.isin(pred, members), np.isin(ref, members)
        for m in METRICS:
            got = float(row[m])
            assert got == pytest.approx(oracle(p, r, spacing, m), rel=1e-9, abs=1e-12), (row["case"], m)
            assert got == pytest.approx(direct(p, r, spacing, m), rel=1e-12, abs=1e-12), (row["case"], m)


# -- values ------------------------------------------------------------------------

def test_png_cli_rows_equal_sklearn_scipy_and_direct_calls(tmp_path):
    pred_dir, ref_dir, arrays = write_png_folders(tmp_path)
    out_csv, out_json = tmp_path / "cases.csv", tmp_path / "summary.json"
    code = main(["evaluate", str(pred_dir), str(ref_dir), "--metrics", ",".join(METRICS),
                 "--labels", "1,2", "--csv", str(out_csv), "--json", str(out_json), "-q"])
    assert code == 0
    rows = read_csv(out_csv)
    assert list(rows[0]) == ["case", "class", *METRICS]
    assert [(r["case"], r["class"]) for r in rows] == [(c, k) for c in sorted(arrays) for k in ("1", "2")]
    check_rows_against_oracles(rows, arrays, {"1": (1,), "2": (2,)}, (1.0, 1.0))


def test_regions_and_nifti_spacing_from_header(tmp_path):
    rng = np.random.default_rng(3)
    spacing = (0.5, 1.5, 2.0)
    pred_dir, ref_dir = tmp_path / "p", tmp_path / "r"
    pred_dir.mkdir()
    ref_dir.mkdir()
    arrays = {}
    for i in range(2):
        ref = np.zeros((10, 12, 9), np.int16)
        ref[2:7, 3:9, 2:6] = 1
        ref[4:6, 4:7, 3:5] = 2                     # label 2 inside label 1 (a tumour core)
        pred = np.roll(ref, i + 1, axis=1)
        pred[rng.random(ref.shape) < 0.01] = 2
        affine = np.diag(spacing + (1.0,))
        nib.save(nib.Nifti1Image(ref, affine), ref_dir / f"v{i}.nii.gz")
        nib.save(nib.Nifti1Image(pred.astype(np.float32), affine), pred_dir / f"v{i}.nii")  # float labels
        arrays[f"v{i}"] = (pred.astype(np.int64), ref.astype(np.int64))
    report = evaluate_folder(pred_dir, ref_dir, METRICS, regions={"whole": (1, 2), "core": (2,)})
    assert report.table.classes == ("whole", "core")
    check_rows_against_oracles(report.rows, arrays, {"whole": (1, 2), "core": (2,)}, spacing)


def test_tiff_npy_npz_mixed_formats_pair_by_name(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    arrays = {}
    writers = [lambda f, a: tifffile.imwrite(f.with_suffix(".tif"), a),
               lambda f, a: np.save(f.with_suffix(".npy"), a),
               lambda f, a: np.savez_compressed(f.with_suffix(".npz"), seg=a)]
    for i, write in enumerate(writers):
        pred, ref = label_pair(rng)
        write(tmp_path / "p" / f"c{i}", pred.astype(np.uint16))
        writers[(i + 1) % 3](tmp_path / "r" / f"c{i}", ref.astype(np.uint16))
        arrays[f"c{i}"] = (pred.astype(np.int64), ref.astype(np.int64))
    report = evaluate_folder(tmp_path / "p", tmp_path / "r", METRICS, spacing=(0.7, 1.1))
    check_rows_against_oracles(report.rows, arrays, {"1": (1,), "2": (2,)}, (0.7, 1.1))


def test_ignore_index_leaves_pixels_out_like_sklearn_sample_weight(tmp_path):
    rng = np.random.default_rng(2)
    pred, ref = label_pair(rng, noise=0.1)
    ref[:, :3] = 255                               # an unlabelled strip
    for d in ("p", "r"):
        (tmp_path / d).mkdir()
    Image.fromarray(pred).save(tmp_path / "p" / "a.png")
    Image.fromarray(ref).save(tmp_path / "r" / "a.png")
    report = evaluate_folder(tmp_path / "p", tmp_path / "r", ("dice", "iou", "hd"), labels=[1, 2],
                             ignore_index=255)
    keep = (ref != 255).ravel()
    for row in report.rows:
        k = int(row["class"])
        t, p = (ref.ravel() == k), (pred.ravel() == k)
        assert row["dice"] == pytest.approx(f1_score(t, p, sample_weight=keep), rel=1e-12)
        assert row["iou"] == pytest.approx(jaccard_score(t, p, sample_weight=keep), rel=1e-12)
        # surface metrics: ignored pixels are background in both masks (documented)
        valid = ref != 255
        assert row["hd"] == pytest.approx(oracle((pred == k) & valid, (ref == k) & valid, (1, 1), "hd"))


def test_summary_statistics_equal_numpy_on_the_csv(tmp_path):
    pred_dir, ref_dir, arrays = write_png_folders(tmp_path, n=5)
    # one case without label 2 in either map: dice is NaN there (both empty, empty='skip')
    pred, ref = arrays["case_4"]
    pred[pred == 2] = 0
    ref[ref == 2] = 0
    Image.fromarray(pred.astype(np.uint8)).save(pred_dir / "case_4.png")
    Image.fromarray(ref.astype(np.uint8)).save(ref_dir / "case_4.png")
    out_csv, out_json = tmp_path / "c.csv", tmp_path / "s.json"
    assert main(["evaluate", str(pred_dir), str(ref_dir), "-m", "dice,hd95", "-l", "1,2",
                 "--csv", str(out_csv), "--json", str(out_json), "-q"]) == 0
    rows, summary = read_csv(out_csv), json.loads(out_json.read_text())
    for name in ("1", "2"):
        v = np.array([float(r["dice"]) for r in rows if r["class"] == name])
        f = v[np.isfinite(v)]
        s = summary["per_class"][name]["dice"]
        assert s["count"] == f.size and s["n"] == v.size and s["nan"] == v.size - f.size
        assert s["mean"] == pytest.approx(np.mean(f)) and s["std"] == pytest.approx(np.std(f))
        assert [s["q1"], s["median"], s["q3"]] == pytest.approx(np.percentile(f, [25, 50, 75]))
    assert summary["per_class"]["2"]["dice"]["count"] == 4
    pooled = np.array([float(r["hd95"]) for r in rows])
    pooled = pooled[np.isfinite(pooled)]
    assert summary["overall"]["hd95"]["mean"] == pytest.approx(pooled.mean())
    assert summary["overall"]["hd95"]["count"] == pooled.size


def test_jobs_gives_the_same_csv_as_one_process(tmp_path):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=6)
    one = evaluate_folder(pred_dir, ref_dir, ("dice", "hd95"), jobs=1).csv()
    two = evaluate_folder(pred_dir, ref_dir, ("dice", "hd95"), jobs=2).csv()
    assert one == two and one.count("\n") == 1 + 6 * 2


def test_metric_options_reach_the_metric(tmp_path):
    pred_dir, ref_dir, arrays = write_png_folders(tmp_path, n=2)
    report = evaluate_folder(pred_dir, ref_dir, ("hd95", "nsd"), labels=[1, 2],
                             options=["hd95.percentile=50", "nsd.tolerance=2.5"])
    for row in report.rows:
        pred, ref = arrays[row["case"]]
        p, r = pred[None] == int(row["class"]), ref[None] == int(row["class"])
        assert row["hd95"] == float(segmath.hd95(p.astype(np.int64), r.astype(np.int64), num_classes=2,
                                                 percentile=50.0))
        assert row["nsd"] == float(segmath.nsd(p.astype(np.int64), r.astype(np.int64), num_classes=2,
                                               tolerance=2.5))


def test_empty_policies_reach_the_metrics(tmp_path):
    ref = np.zeros((10, 12), np.uint8)
    ref[2:6, 2:6] = 1
    ref[6:9, 7:11] = 2
    absent = ref.copy()
    absent[absent == 2] = 0                   # class 2 in neither map of case "b"
    for d in ("p", "r"):
        (tmp_path / d).mkdir()
    Image.fromarray(absent).save(tmp_path / "p" / "a.png")       # case "a": class 2 not predicted
    Image.fromarray(ref).save(tmp_path / "r" / "a.png")
    Image.fromarray(absent).save(tmp_path / "p" / "b.png")
    Image.fromarray(absent).save(tmp_path / "r" / "b.png")
    value = {}
    for flags in ({}, {"empty": "one", "both_empty": 0.0, "one_empty": "inf"}):
        rows = evaluate_folder(tmp_path / "p", tmp_path / "r", ("dice", "hd95"), labels=[1, 2], **flags).rows
        value[bool(flags)] = {(r["case"], r["class"]): (r["dice"], r["hd95"]) for r in rows}
    diagonal = math.hypot(9, 11)
    assert value[False][("a", "2")] == (0.0, pytest.approx(diagonal))          # defaults
    assert all(map(math.isnan, value[False][("b", "2")]))
    assert value[True][("a", "2")] == (0.0, math.inf)
    assert value[True][("b", "2")] == (1.0, 0.0)
    summary = evaluate_folder(tmp_path / "p", tmp_path / "r", ("hd95",), labels=[1, 2],
                              one_empty="inf").summary["per_class"]["2"]["hd95"]
    assert (summary["count"], summary["inf"], summary["nan"], summary["mean"]) == (0, 1, 1, None)


def test_api_errors_carry_every_problem(tmp_path):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=3)
    (pred_dir / "case_0.png").write_bytes(b"not a png")
    (pred_dir / "case_2.png").unlink()
    with pytest.raises(DataError) as info:
        evaluate_folder(pred_dir, ref_dir, missing="worst")
    assert [p.case for p in info.value.problems] == ["case_0"]      # the missing one is scored, not an error
    with pytest.raises(DataError) as info:
        evaluate_folder(pred_dir, ref_dir)
    assert [p.case for p in info.value.problems] == ["case_2"]      # pairing is checked before reading
    with pytest.raises(UsageError, match="jobs"):
        evaluate_folder(pred_dir, ref_dir, jobs=0)


# -- missing cases and the worst value ---------------------------------------------------------

def test_missing_prediction_fails_naming_every_file_and_writes_nothing(tmp_path, capsys):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=4)
    (pred_dir / "case_1.png").unlink()
    (pred_dir / "case_3.png").unlink()
    out_csv = tmp_path / "c.csv"
    code = main(["evaluate", str(pred_dir), str(ref_dir), "--csv", str(out_csv), "--json",
                 str(tmp_path / "s.json")])
    err = capsys.readouterr().err
    assert code == 1
    assert str(ref_dir / "case_1.png") in err and str(ref_dir / "case_3.png") in err
    assert not out_csv.exists() and not list(tmp_path.glob(".*.tmp"))


def test_missing_worst_scores_worst_values_and_names_the_file(tmp_path, capsys):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=3)
    (pred_dir / "case_2.png").unlink()
    out_csv, out_json = tmp_path / "c.csv", tmp_path / "s.json"
    code = main(["evaluate", str(pred_dir), str(ref_dir), "-m", "dice,mcc,hd95,nsd", "--missing", "worst",
                 "--spacing", "2,0.5", "--csv", str(out_csv), "--json", str(out_json), "-q"])
    assert code == 0
    assert str(ref_dir / "case_2.png") in capsys.readouterr().err
    worst = [r for r in read_csv(out_csv) if r["case"] == "case_2"]
    diagonal = math.hypot(23 * 2.0, 27 * 0.5)          # the 24 x 28 image, in physical units
    assert len(worst) == 2
    for r in worst:
        assert (float(r["dice"]), float(r["mcc"]), float(r["nsd"])) == (0.0, -1.0, 0.0)
        assert float(r["hd95"]) == pytest.approx(diagonal)
    assert json.loads(out_json.read_text())["missing_predictions"] == [str(ref_dir / "case_2.png")]


def test_missing_worst_scores_reference_dependent_metrics_on_the_worst_prediction(tmp_path):
    """LR+, net benefit and expected cost have no fixed worst value: counted by hand on the reference."""
    pred_dir, ref_dir, arrays = write_png_folders(tmp_path, n=2)
    (pred_dir / "case_1.png").unlink()

    def rows(*args):
        out_csv = tmp_path / "c.csv"
        code = main(["evaluate", str(pred_dir), str(ref_dir), "-q", "--missing", "worst", "--csv", str(out_csv),
                     "--json", str(tmp_path / "s.json"), *args])
        assert code == 0
        return [r for r in read_csv(out_csv) if r["case"] == "case_1"]

    def counts(row):
        inside = arrays["case_1"][1] == int(row["class"])
        return inside.size, int(inside.sum()), inside.size - int(inside.sum())

    for row in rows("-m", "likelihood_ratio_positive,net_benefit,expected_cost",
                    "--option", "net_benefit.threshold_probability=0.2",
                    "--option", "expected_cost.costs=((0, 1), (5, 0))"):
        n, positives, negatives = counts(row)
        assert float(row["likelihood_ratio_positive"]) == 0.0                 # no true positive
        assert float(row["net_benefit"]) == pytest.approx(-negatives / n * 0.2 / 0.8, rel=1e-12)
        # each pixel takes its costliest label: a negative predicted positive (1), a positive negative (5)
        assert float(row["expected_cost"]) == pytest.approx((negatives * 1 + positives * 5) / n, rel=1e-12)
    for row in rows("-m", "expected_cost", "--option", "expected_cost.normalize=True"):
        n, positives, negatives = counts(row)
        # NEC: EC (every pixel wrong: 1) over the best constant predictor's EC, min(P, N) / n
        assert float(row["expected_cost"]) == pytest.approx(n / min(positives, negatives), rel=1e-12)


# -- error paths ---------------------------------------------------------------------------

def run_cli(tmp_path, *args):
    out_csv = tmp_path / "out.csv"
    code = main(["evaluate", *map(str, args), "--csv", str(out_csv), "--json", str(tmp_path / "out.json")])
    return code, out_csv


def test_shape_mismatch_names_both_files(tmp_path, capsys):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=3)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(pred_dir / "case_0.png")
    Image.fromarray(np.zeros((6, 5), np.uint8)).save(pred_dir / "case_2.png")
    code, out_csv = run_cli(tmp_path, pred_dir, ref_dir)
    err = capsys.readouterr().err
    assert code == 1 and not out_csv.exists()
    for name in ("case_0.png", "case_2.png"):
        assert str(pred_dir / name) in err and str(ref_dir / name) in err
    assert "case_1" not in err


def test_unknown_metric_is_a_usage_error_listing_the_known_ones(tmp_path, capsys):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=1)
    code, out_csv = run_cli(tmp_path, pred_dir, ref_dir, "--metrics", "dice,hd96")
    err = capsys.readouterr().err
    assert code == 2 and "'hd96'" in err and "hd95" in err and "nsd" in err and not out_csv.exists()


@pytest.mark.parametrize("args, needle", [
    (["--option", "hd95.percentil=9", "-m", "hd95"], "percentil"),
    (["--option", "hd95.percentile=150", "-m", "hd95"], "percentile"),
    (["--option", "dice.num_classes=3"], "num_classes"),
    (["-m", "brier_score"], "brier_score"),
    (["-m", "volume_difference", "--missing", "worst"], "volume_difference"),
])
def test_bad_options_are_usage_errors_naming_the_option(tmp_path, capsys, args, needle):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=1)
    code, _ = run_cli(tmp_path, pred_dir, ref_dir, *args)
    assert code == 2 and needle in capsys.readouterr().err


def test_empty_or_absent_folder_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no label maps here")
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=1)
    assert run_cli(tmp_path, pred_dir, tmp_path / "empty")[0] == 2
    assert "holds no label maps" in capsys.readouterr().err
    assert run_cli(tmp_path, tmp_path / "nowhere", ref_dir)[0] == 2
    assert "nowhere" in capsys.readouterr().err


def test_labels_outside_labels_are_a_data_error(tmp_path, capsys):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=2)
    code, _ = run_cli(tmp_path, pred_dir, ref_dir, "--labels", "1")
    err = capsys.readouterr().err
    assert code == 1 and "[2]" in err and str(ref_dir / "case_0.png") in err


def test_mismatched_nifti_spacing_is_a_data_error(tmp_path, capsys):
    for d, zooms in (("p", (1.0, 1.0, 2.0)), ("r", (1.0, 1.0, 3.0))):
        (tmp_path / d).mkdir()
        img = nib.Nifti1Image(np.ones((4, 4, 4), np.uint8), np.diag(zooms + (1.0,)))
        nib.save(img, tmp_path / d / "v.nii.gz")
    code, _ = run_cli(tmp_path, tmp_path / "p", tmp_path / "r")
    err = capsys.readouterr().err
    assert code == 1 and "spacing" in err and str(tmp_path / "p" / "v.nii.gz") in err


def test_non_integer_and_rgb_files_are_data_errors(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    np.save(tmp_path / "p" / "a.npy", np.full((4, 4), 0.5))
    np.save(tmp_path / "r" / "a.npy", np.ones((4, 4), np.uint8))
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "p" / "b.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "r" / "b.png")
    code, out_csv = run_cli(tmp_path, tmp_path / "p", tmp_path / "r", "-l", "1")
    err = capsys.readouterr().err
    assert code == 1 and not out_csv.exists()
    assert "a.npy" in err and "non-integer" in err and "b.png" in err and "RGB" in err


def test_a_failed_write_leaves_the_previous_outputs_untouched(tmp_path, monkeypatch):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=2)
    out_csv, out_json = tmp_path / "c.csv", tmp_path / "s.json"
    out_csv.write_text("previous\n")

    def broken(summary):
        raise OSError("disk full")
    # the CSV text is formed first, then the JSON fails: nothing may be renamed into place
    monkeypatch.setattr("segmath.evaluate.run.summary_json", broken)
    code = main(["evaluate", str(pred_dir), str(ref_dir), "--csv", str(out_csv), "--json", str(out_json)])
    assert code == 1
    assert out_csv.read_text() == "previous\n" and not out_json.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# -- the command as installed ------------------------------------------------------------------

def test_python_m_segmath_evaluate_runs_and_helps(tmp_path):
    pred_dir, ref_dir, arrays = write_png_folders(tmp_path, n=2)
    out = subprocess.run([sys.executable, "-m", "segmath", "evaluate", str(pred_dir), str(ref_dir),
                          "-m", "dice", "--csv", str(tmp_path / "c.csv"), "--json", str(tmp_path / "s.json")],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "2 cases" in out.stdout and out.stderr == ""           # no progress bar off a terminal
    helptext = subprocess.run([sys.executable, "-m", "segmath", "evaluate", "--help"],
                              capture_output=True, text=True, cwd=ROOT).stdout
    for section in ("EXIT STATUS", "EMPTY MASKS", "FILES", "examples:", "--missing"):
        assert section in helptext


def test_progress_bar_only_on_a_terminal(tmp_path, capsys, monkeypatch):
    pred_dir, ref_dir, _ = write_png_folders(tmp_path, n=2)
    evaluate_folder(pred_dir, ref_dir, ("dice",), labels=[1, 2], progress=True)
    assert "case" not in capsys.readouterr().err                  # captured stderr is no terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    evaluate_folder(pred_dir, ref_dir, ("dice",), labels=[1, 2], progress=True)
    assert "2/2" in capsys.readouterr().err
    evaluate_folder(pred_dir, ref_dir, ("dice",), labels=[1, 2], progress=False)
    assert capsys.readouterr().err == ""


def test_cli_regions_named_and_unnamed(tmp_path):
    pred_dir, ref_dir, arrays = write_png_folders(tmp_path, n=2)
    out_csv = tmp_path / "c.csv"
    assert main(["evaluate", str(pred_dir), str(ref_dir), "-m", "dice", "--regions", "both=1,2", "2",
                 "--csv", str(out_csv), "--json", str(tmp_path / "s.json"), "-q"]) == 0
    rows = read_csv(out_csv)
    assert [r["class"] for r in rows] == ["both", "2"] * 2
    for r in rows:
        pred, ref = arrays[r["case"]]
        members = (1, 2) if r["class"] == "both" else (2,)
        t, p = np.isin(ref, members).ravel(), np.isin(pred, members).ravel()
        assert float(r["dice"]) == pytest.approx(f1_score(t, p), rel=1e-12)
