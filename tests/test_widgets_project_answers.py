"""The project notebook accepts a student's reasonable answers (issue 9 §4), run in-process.

The student copy is executed cell by cell with its TASK placeholders replaced by answers in the forms a
student writes: the surrogate as a catalogue id, a catalogue ``Entry`` (the TASK 2 hint), a plain function
or a ``functools.partial``; ``miou`` returning a list, a flat list with the mean appended, or an array tuple.
Each run must finish, label its rows by the chosen surrogate, and report the same numbers as the
instructor's answer when the answers are equivalent.
"""
import contextlib
import io
import json
import pathlib

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = pathlib.Path(__file__).resolve().parents[1]
STUDENT = ROOT / "notebooks" / "project_imbalance_student.ipynb"
SOLUTION = ROOT / "notebooks" / "project_imbalance_solution.ipynb"

PIXEL_ERROR = "def pixel_error(pred, target):\n    return float(np.mean(np.asarray(pred) != np.asarray(target)))\n"
POSTPROCESS = {   # TASK 3: the parameters of tv_segment and dense_crf (the instructor's, so tables compare)
    "tv_weight": "tv_weight = 1.0",
    "crf_params": ("crf_params = {'w_spatial': 3.0, 'theta_gamma': 1.0, 'w_bilateral': 3.0, "
                   "'theta_alpha': 3.0, 'theta_beta': 0.5}"),
}
MIOU = {   # three ways to return "the three per-class values and the mean"
    "list": ("def miou(pred, target):\n"
             "    per = np.asarray(segmath.iou(pred, target, num_classes=4, average='none'))[1:]\n"
             "    return per.tolist(), float(per.mean())\n"),
    "flat": ("def miou(pred, target):\n"
             "    per = [float(v) for v in np.asarray(segmath.iou(pred, target, num_classes=4, average='none'))[1:]]\n"
             "    return per + [sum(per) / 3]\n"),
    "array": ("def miou(pred, target):\n"
              "    per = np.asarray(segmath.iou(pred, target, num_classes=4, average='none'))[1:]\n"
              "    return per, per.mean()\n"),
}


def _run(answers):
    """Execute the student notebook with the TASK cells replaced; return each code cell's stdout."""
    cells = [c for c in json.loads(STUDENT.read_text())["cells"] if c["cell_type"] == "code"]
    ns, out = {"__name__": "__main__"}, []
    for c in cells:
        src = "".join(c["source"]).replace("%matplotlib inline\n", "")
        for placeholder, answer in answers.items():
            if f"\n{placeholder} = None" in src:
                src = src.replace(f"{placeholder} = None", answer)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(src, str(STUDENT), "exec"), ns)
        out.append(buf.getvalue())
    import matplotlib.pyplot as plt
    plt.close("all")
    return out, ns


def _answers(surrogate, miou):
    return {"pixel_error": PIXEL_ERROR, "surrogate": f"import functools\nsurrogate = {surrogate}",
            **POSTPROCESS, "w1": "w1 = (1 - pi) / pi", "miou": MIOU[miou]}


@pytest.fixture(scope="module")
def solution_outputs():
    cells = [c for c in json.loads(SOLUTION.read_text())["cells"] if c["cell_type"] == "code"]
    return ["".join(o.get("text", "")) for c in cells for o in c["outputs"] if o.get("output_type") == "stream"]


@pytest.mark.slow
@pytest.mark.parametrize("surrogate, label, miou", [
    ('"cross_entropy"', "cross_entropy", "list"),                         # the lab's style
    ('segmath.get("cross_entropy")', "cross_entropy", "flat"),            # the TASK 2 hint's Entry
    ("functools.partial(segmath.focal, gamma=2.0)", "focal(gamma=2.0)", "array"),
])
def test_reasonable_answers_run(surrogate, label, miou, solution_outputs):
    out, ns = _run(_answers(surrogate, miou))
    text = "\n".join(out)
    assert "is open" not in text
    assert f"{label}: pixel error" in text                                   # part B's surrogate line
    assert f"{label}, t = 1/2" in text and f"{label}, t tuned for Dice" in text   # the table's rows
    assert "cross-entropy, t = 1/2" not in text
    assert "the threshold is pi." in text                                   # TASK 4 checked against S8
    table = next(o for o in out if "IoU of classes 1, 2, 3" in o)
    if label == "cross_entropy":        # the same answers as the instructor's: the same numbers
        assert any(table.strip() in s for s in solution_outputs)
        b_table = next(o for o in out if o.startswith("rule"))
        assert any(b_table in s for s in solution_outputs)


def test_student_copy_does_not_give_away_task_4():
    nb = json.loads(STUDENT.read_text())
    text = "\n".join("".join(c["source"]) + "".join("".join(o.get("text", "")) for o in c.get("outputs", []))
                     for c in nb["cells"])
    for answer in ("(1-\\pi)/\\pi", "(1 - pi) / pi", "1/(1-pi), 1/pi", "inverse-prior weights", "w1 = 99"):
        assert answer not in text, answer
    assert "*Reading the table.* Weighted CE" not in text and "### The answer to the brief" not in text
