"""The ``segmath`` command line: ``segmath evaluate PRED REF`` (also ``python -m segmath evaluate``)."""
from __future__ import annotations

import argparse
import sys

from .errors import DataError, UsageError

DESCRIPTION = """\
Score a folder of predicted label maps against a folder of reference label maps.

Every reference file in REF is paired with the prediction of the same name in PRED (the
name without its ending, so case_01.nii.gz pairs with case_01.npy). Each class (a label,
or a region: a union of labels) is scored as the binary problem "in the class" against
"not in the class" with every metric asked for, and the results are written as a tidy
per-case table (CSV: one row per case and class) and a JSON summary (per class and over
all classes: mean, std, median, quartiles, min, max and the count of finite values).

FILES
  PNG (single channel: L, P, I, I;16), TIFF, NPY, NPZ (one array), NIfTI (.nii, .nii.gz;
  the voxel spacing comes from the header). Label maps must hold integers (floating-point
  files only integer values). Files are untrusted: NPY/NPZ are read without pickle, image
  sizes are checked against --max-elements before reading, and a truncated file is an error.

EMPTY MASKS
  --empty       overlap metrics (dice, iou, ...) when a ratio is 0/0, e.g. both masks
                empty: skip (NaN, left out of the summary), zero or one.
  --both-empty  surface metrics (hd95, assd, nsd, ...) when neither mask has the class:
                nan or a number.
  --one-empty   distances when exactly one mask is empty: diagonal (the image diagonal,
                the largest distance in the image), inf or nan.
  A missing prediction is an error unless --missing worst: it then scores each metric's
  worst value (0 for overlaps, -1 for mcc/kappa, the image diagonal for distances; for
  likelihood_ratio_positive, net_benefit and expected_cost, the value of the worst
  prediction for that reference), as Metrics Reloaded does, and is still named on stderr
  and in the summary.  volume_difference has no worst value and is refused with it.

EXIT STATUS
  0  success.   1  a data error: an unreadable or non-label file, a missing prediction, a
  shape or spacing mismatch, labels outside --labels (every such file is named).
  2  a usage error: an unknown metric or option, a folder that is missing or empty.
  Outputs are written atomically: a run that fails leaves no CSV or JSON behind.
"""

EPILOG = """\
examples:
  segmath evaluate preds/ labels/ --metrics dice,iou,hd95 --labels 1,2,3
  segmath evaluate preds/ labels/ --regions WT=1,2,3 TC=2,3 ET=3 --metrics dice,hd95,nsd \\
      --option nsd.tolerance=2 --csv brats.csv --json brats.json
  segmath evaluate preds/ labels/ --ignore-index 255 --missing worst --jobs 4
  segmath evaluate preds/ labels/ --spacing 0.8,0.8,3 --scheduler tcp://10.0.0.5:8786
  python -m segmath evaluate preds/ labels/ --list-metrics
"""


def _ints(text):
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _floats(text):
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _region(text):
    name, eq, members = text.rpartition("=")
    labels = _ints(members)
    if not labels:
        raise argparse.ArgumentTypeError(f"region {text!r} lists no labels")
    return (name if eq else None, tuple(labels))


def _both_empty(text):
    if text == "nan":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'nan' or a number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segmath", description="segmath: segmentation losses and metrics.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ev = sub.add_parser("evaluate", help="score a folder of predictions against references",
                        description=DESCRIPTION, epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("pred", metavar="PRED", nargs="?", help="folder (or file) of predicted label maps")
    ev.add_argument("ref", metavar="REF", nargs="?", help="folder (or file) of reference label maps")
    g = ev.add_argument_group("what to score")
    g.add_argument("-m", "--metrics", default="dice,hd95", metavar="LIST",
                   help="comma-separated catalogue metrics or aliases (default: dice,hd95; see --list-metrics)")
    g.add_argument("-l", "--labels", type=_ints, metavar="LIST",
                   help="labels to score, e.g. 1,2,3 (default: every non-zero label found in the files)")
    g.add_argument("-r", "--regions", type=_region, nargs="+", metavar="[NAME=]LIST",
                   help="label unions scored as one class, e.g. WT=1,2,3 TC=2,3 ET=3")
    g.add_argument("--ignore-index", type=int, metavar="LABEL",
                   help="reference label left out of every metric (e.g. 255)")
    g.add_argument("--spacing", type=_floats, metavar="LIST",
                   help="voxel spacing per axis, overriding the files' headers (default: header, else 1)")
    g.add_argument("--option", action="append", default=[], metavar="METRIC.NAME=VALUE",
                   help="extra keyword argument for one metric, e.g. hd95.percentile=99 (repeatable)")
    g = ev.add_argument_group("empty and missing")
    g.add_argument("--empty", choices=("skip", "zero", "one"), default="skip",
                   help="overlap metrics: value of an undefined ratio (default: skip, i.e. NaN)")
    g.add_argument("--both-empty", type=_both_empty, default="nan", metavar="nan|NUMBER",
                   help="surface metrics: value when neither mask has the class (default: nan)")
    g.add_argument("--one-empty", choices=("diagonal", "inf", "nan"), default="diagonal",
                   help="distances when exactly one mask is empty (default: diagonal)")
    g.add_argument("--missing", choices=("error", "worst"), default="error",
                   help="a reference without prediction: fail (default) or score the worst value")
    g = ev.add_argument_group("output")
    g.add_argument("--csv", default="segmath_cases.csv", metavar="FILE",
                   help="per-case table (default: segmath_cases.csv)")
    g.add_argument("--json", default="segmath_summary.json", metavar="FILE",
                   help="summary (default: segmath_summary.json)")
    g.add_argument("-q", "--quiet", action="store_true", help="print no summary table")
    g = ev.add_argument_group("running")
    g.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="worker processes (default: 1)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster at ADDRESS instead")
    g.add_argument("--max-elements", type=int, default=2 ** 30, metavar="N",
                   help="refuse files whose header claims more elements (default: 2**30)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar (shown only on a terminal)")
    g.add_argument("--list-metrics", action="store_true", help="list the usable metrics and exit")
    parser.evaluate_parser = ev
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_metrics:
        from .plan import ALIASES, usable_metrics
        print("\n".join(usable_metrics()))
        print("aliases: " + ", ".join(f"{a}={t}" for a, t in sorted(ALIASES.items())))
        return 0
    if args.pred is None or args.ref is None:
        parser.evaluate_parser.error("the arguments PRED and REF are required")   # exits with status 2
    return _evaluate(args)


def _evaluate(args) -> int:
    from .run import evaluate_folder
    regions = None
    if args.regions:
        regions = {name or "+".join(map(str, labels)): labels for name, labels in args.regions}
        if len(regions) != len(args.regions):
            return _fail(2, "--regions: a region is named twice")
    try:
        report = evaluate_folder(
            args.pred, args.ref, args.metrics, labels=args.labels, regions=regions,
            ignore_index=args.ignore_index, spacing=args.spacing, empty=args.empty,
            both_empty=args.both_empty, one_empty=args.one_empty, options=args.option,
            missing=args.missing, jobs=args.jobs, scheduler=args.scheduler,
            progress=not args.no_progress, max_elements=args.max_elements)
    except UsageError as err:
        return _fail(2, str(err))
    except DataError as err:
        return _fail(1, str(err))
    for path in report.missing:
        print(f"segmath evaluate: warning: {path} has no prediction; scored with the worst values",
              file=sys.stderr)
    if report.extra_predictions:
        print(f"segmath evaluate: warning: {len(report.extra_predictions)} prediction(s) without a "
              f"reference were not scored: {', '.join(report.extra_predictions[:5])}"
              + (" ..." if len(report.extra_predictions) > 5 else ""), file=sys.stderr)
    try:
        report.write(args.csv, args.json)
    except OSError as err:
        return _fail(1, f"cannot write the outputs: {err}")
    if not args.quiet:
        print(format_summary(report.summary))
        print(f"wrote {args.csv} ({len(report.rows)} rows) and {args.json}")
    return 0


def format_summary(summary) -> str:
    """A small text table: per class, each metric's mean ± std (count of finite values)."""
    columns = summary["metrics"]
    head = ["class"] + columns
    lines = []
    for name, stats in list(summary["per_class"].items()) + [("all", summary["overall"])]:
        cells = [name]
        for c in columns:
            s = stats[c]
            cells.append("-" if s["mean"] is None else f"{s['mean']:.4g} ± {s['std']:.2g} ({s['count']})")
        lines.append(cells)
    widths = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([f"{summary['cases']} cases", fmt.format(*head)] + [fmt.format(*r) for r in lines])


def _fail(code, message) -> int:
    print(f"segmath evaluate: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
