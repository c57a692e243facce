"""Committed notebooks carry no widget state (a reopened notebook would show "model not found")."""
import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for d in ("notebooks", "book") for p in (ROOT / d).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts)


def _tool():
    spec = importlib.util.spec_from_file_location("clean_widget_state", ROOT / "notebooks" / "clean_widget_state.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_notebook_has_no_widget_state(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert _tool().widget_state(nb) == [], f"run: .venv/bin/python notebooks/clean_widget_state.py {path}"


def test_clean_removes_widget_state_and_keeps_the_rest():
    view = "application/vnd.jupyter.widget-view+json"
    nb = {"metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {}}, "kernelspec": {"name": "k"}},
          "cells": [{"cell_type": "code", "outputs": [
              {"output_type": "execute_result", "data": {view: {"model_id": "ab"}, "text/plain": "HBox()"}},
              {"output_type": "display_data", "data": {view: {"model_id": "cd"}}},
              {"output_type": "stream", "name": "stdout", "text": "hello\n"}]},
              {"cell_type": "markdown", "source": "text"}]}
    tool = _tool()
    assert len(tool.widget_state(nb)) == 3
    out = tool.clean(nb)
    assert tool.widget_state(out) == []
    assert out["metadata"] == {"kernelspec": {"name": "k"}}
    assert [o.get("data", o.get("text")) for o in out["cells"][0]["outputs"]] == [{"text/plain": "HBox()"}, "hello\n"]


def test_nbval_markers_are_exact():
    """nbval honours a marker only when the comment is exactly the marker: ``# NBVAL_IGNORE_OUTPUT  (why)``
    is silently ignored, so the reason goes on the next line."""
    markers = {"NBVAL_IGNORE_OUTPUT", "NBVAL_CHECK_OUTPUT", "NBVAL_RAISES_EXCEPTION", "NBVAL_SKIP", "PYTEST_VALIDATE_IGNORE_OUTPUT"}
    bad = []
    for path in NOTEBOOKS:
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for line in "".join(cell["source"]).splitlines():
                comment = line.strip().lstrip("#").strip() if line.strip().startswith("#") else ""
                if comment.startswith(("NBVAL", "PYTEST_VALIDATE")) and comment not in markers:
                    bad.append(f"{path.name} cell {i}: {line.strip()!r}")
    assert not bad, bad
