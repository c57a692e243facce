"""Strip saved widget state from notebooks, so that a reopened notebook shows no stale widgets.

Executing a notebook stores every live ipywidget's model in ``metadata.widgets`` and an output of type
``application/vnd.jupyter.widget-view+json`` pointing at it.  Reopened later, JupyterLab finds a view
whose model no kernel holds and shows "Error displaying widget: model not found".  A widget is only
meaningful with a running kernel, so committed notebooks keep the plain-text form of the output and
nothing else.  Run after executing (the README's command does both):

    .venv/bin/python notebooks/clean_widget_state.py notebooks/*.ipynb
"""
from __future__ import annotations

import json
import sys

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def clean(nb: dict) -> dict:
    """``nb`` (a parsed notebook) without widget state: ``metadata.widgets`` and widget-view outputs."""
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb.get("cells", []):
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is not None and WIDGET_VIEW in data:
                data.pop(WIDGET_VIEW)
                if not data:                      # nothing but the widget: drop the output
                    continue
            outputs.append(out)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return nb


def widget_state(nb: dict) -> list[str]:
    """Where ``nb`` carries widget state (empty when clean)."""
    found = ["metadata.widgets"] if "widgets" in nb.get("metadata", {}) else []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            if WIDGET_VIEW in out.get("data", {}):
                found.append(f"cell {i}: a {WIDGET_VIEW} output")
    return found


def main(paths) -> int:
    for path in paths:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
        if widget_state(nb):
            with open(path, "w", encoding="utf-8") as f:
                json.dump(clean(nb), f, indent=1, ensure_ascii=False)
                f.write("\n")
            print(f"cleaned {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
