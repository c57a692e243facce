"""Sphinx extension: the page's download menu offers the executed chapter as ``.ipynb``.

sphinx-book-theme copies a MyST chapter's executed notebook into ``_sources/`` (and so adds the ``.ipynb``
download button) only when a launch button is configured.  The book's launch buttons are off until the
project has a public repository (``_config.yml``), but downloading the notebook and running it locally is
the route that works, so this copies the notebook itself.  Listed under ``sphinx: local_extensions``.
"""
from __future__ import annotations

import shutil
from pathlib import Path


def _copy_notebook(app, pagename, templatename, context, doctree):
    if doctree is None or not str(context.get("sourcename", "")).endswith((".md", ".md.txt")):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.exists():                 # a page that is not a notebook (no code cells run)
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # before sphinx-book-theme's header buttons (priority 501), which read ``ipynb_source``
    app.connect("html-page-context", _copy_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
