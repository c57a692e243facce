"""Build and check the segmath book.

    python tools/book.py build      # regenerate catalogue/API pages, then jupyter-book build -W
    python tools/book.py generate   # only regenerate book/catalogue.md and book/api.md
    python tools/book.py check      # open every built page in headless Chromium

``build`` executes every chapter (cached by jupyter-cache, so an unchanged chapter is not re-run)
and fails on any cell error or Sphinx warning.  The catalogue and API pages are generated from
:func:`segmath.catalogue` on every build, so entries registered by any module appear at once.

``check`` serves ``_build/html`` on a free localhost port, opens every page in headless Chromium
(installing Debian's ``chromium`` and ``chromium-driver`` when missing), waits for MathJax and fails
on a MathJax error, unrendered TeX in visible text, a broken image, a Python traceback, or any request
the page makes to anywhere but the local server (every script, stylesheet, font and image must be in the
book).  It moves the slider of every static explorer (``segmath.teaching.widgets.static``) and fails unless
the picture changes; a page showing a live explorer's call must also have its static form.  Screenshots of
the explorers after the move go to ``_build/screenshots/``.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD = ROOT / "_build"
HTML = BUILD / "html"
BIB = ROOT / "references.bib"
GENERATED = ("book/catalogue.md", "book/api.md")   # written by `generate`, listed in _toc.yml
_FALLBACK = BUILD / ".api_docstring_fallback.json"   # docstrings Sphinx warned about (see build)
_FAILED = BUILD / ".segmath_build_failed"           # last build failed: next one re-reads every page
_SRC_HASH = BUILD / ".segmath_source_hash"          # the package source the cached executions ran against
_KIND_TITLES = {"loss": "Losses", "metric": "Metrics", "transform": "Transforms"}


# --------------------------------------------------------------------------------------------
# generated pages
# --------------------------------------------------------------------------------------------

def bib_keys(path: Path = BIB) -> set:
    """The citation keys defined in ``references.bib``."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return set(re.findall(r"@\w+\s*\{\s*([^,\s]+)\s*,", text))


def toc_docs() -> list:
    """The docnames ``_toc.yml`` lists (root, chapters, sections); read on every call, as pages get added."""
    import yaml
    out = []

    def walk(node):
        if isinstance(node, dict):
            out.extend(node[k] for k in ("root", "file") if isinstance(node.get(k), str))
            node = list(node.values())
        if isinstance(node, list):
            for v in node:
                if isinstance(v, (dict, list)):
                    walk(v)
    walk(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    return out


def chapter_doc(chapter) -> str | None:
    """The ``book/`` docname named by a catalogue or theory ``chapter`` field, if ``_toc.yml`` lists it."""
    if chapter is None:
        return None
    return str(chapter) if f"book/{chapter}" in toc_docs() else None


def _chapter_cell(e) -> str:
    doc = chapter_doc(e.chapter)
    if doc:
        return "{doc}" + f"`{doc}`"
    if e.chapter:
        return f"`{e.chapter}` (not in `_toc.yml`)"
    planned = getattr(e, "planned_chapter", None)
    return f"`{planned}` (planned, not written yet)" if planned else "—"


def _symbolic_cell(e) -> str:
    from segmath.catalogue import NoForm
    if isinstance(e.symbolic, NoForm):
        return "none: " + _md_escape(e.symbolic.reason)
    if e.forms:
        names = [e.id + (f":{f.label}" if f.label else "") for f in e.forms]
        return ("the formula above is its `sympy.latex`; `segmath.symbolic` names: "
                + ", ".join(f"`{n}`" for n in names))
    return "—"


def _cite(keys, known) -> tuple[str, list]:
    present = [k for k in keys if k in known]
    missing = [k for k in keys if k not in known]
    parts = []
    if present:
        parts.append("{cite:p}`" + ",".join(present) + "`")
    parts += [f"`{k}` (not in references.bib)" for k in missing]
    return ", ".join(parts) or "—", missing


def _theory():
    try:
        import segmath.theory as theory
    except Exception as exc:  # the theory package is written by another module; never break the page
        print(f"[book] segmath.theory failed to import: {exc!r}", file=sys.stderr)
        return None
    return theory


def _verifications(theory) -> dict:
    """name -> (statement id, chapter, title) from ``segmath.theory.VERIFICATIONS`` when it exists."""
    out = {}
    for t in getattr(theory, "VERIFICATIONS", None) or ():
        name = getattr(t, "name", None) or getattr(getattr(t, "fn", None), "__name__", None)
        if name:
            out[name] = (getattr(t, "statement", ""), getattr(t, "chapter", None), getattr(t, "title", ""))
    return out


def _theorem_cell(names, theory) -> str:
    out = []
    known = _verifications(theory) if theory is not None else {}
    for name in names:
        fn = getattr(theory, name, None) if theory is not None else None
        if not callable(fn):
            out.append(f"`{name}` (not yet implemented)")
            continue
        text = "{py:func}" + f"`~{fn.__module__}.{fn.__name__}`"
        if name in known:
            statement, chapter, title = known[name]
            doc = chapter_doc(chapter)
            where = (" in {doc}" + f"`{doc}`") if doc else ""
            text += f" ({(statement + ': ') if statement else ''}{_md_escape(title)}{where})"
        out.append(text)
    return "<br>".join(out) or "—"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_page() -> tuple[str, list]:
    """MyST source of the catalogue page and the list of reference keys missing from the bib."""
    import segmath
    entries = segmath.catalogue()
    known = bib_keys()
    theory = _theory()
    missing_all = []
    lines = [
        "<!-- GENERATED by `python tools/book.py generate` from segmath.catalogue(): do not edit. -->",
        "(catalogue-page)=",
        "# The catalogue",
        "",
        f"Every loss, metric and transform in `segmath` ({len(entries)} entries), generated from "
        "`segmath.catalogue()` each time the book is built. Each entry lists its formula, the backends it "
        "runs on, the chapter that treats it, its references and the `segmath.theory.verify_…` "
        "functions that check the theorems about it. The same list drives the test suite "
        "(`tests/test_catalogue.py` runs every entry on NumPy and PyTorch) and the {ref}`API reference <api-reference>`.",
        "",
        "| id | kind | name | chapter |",
        "|---|---|---|---|",
    ]
    for e in entries:
        chap = _chapter_cell(e)
        lines.append(f"| [`{e.id}`](catalogue-{e.id.replace('_', '-')}) | {e.kind} | {_md_escape(e.name)} | {chap} |")
    for kind in ("loss", "metric", "transform"):
        group = [e for e in entries if e.kind == kind]
        if not group:
            continue
        lines += ["", f"## {_KIND_TITLES[kind]}", ""]
        for e in group:
            refs, missing = _cite(e.references, known)
            missing_all += missing
            chap = _chapter_cell(e)
            kind_text = e.kind + (" (differentiable)" if e.differentiable else "")
            lines += [f"(catalogue-{e.id.replace('_', '-')})=", f"### {_md_escape(e.name)} (`{e.id}`)", ""]
            if e.formula.strip():
                lines += ["```{math}", e.formula.strip(), "```", ""]
            lines += [
                "| | |", "|---|---|",
                f"| kind | {kind_text} |",
                f"| backends | {', '.join(e.backends)} |",
                f"| chapter | {chap} |",
                *([f"| SymPy form | {_symbolic_cell(e)} |"] if e.kind == "loss" else []),
                f"| references | {refs} |",
                f"| theorems | {_theorem_cell(e.theorems, theory)} |",
                f"| tags | {', '.join(e.tags) or '—'} |",
                "| API | {py:func}" + f"`segmath.{e.id} <{_qualname(e.fn)}>`" + " |",
                "",
            ]
    if missing_all:
        lines += ["", "```{note}", "Reference keys named by catalogue entries but missing from `references.bib`: "
                  + ", ".join(f"`{k}`" for k in sorted(set(missing_all))) + ".", "```"]
    return "\n".join(lines) + "\n", sorted(set(missing_all))


def _public_functions(module) -> list:
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    out = []
    for n in names:
        obj = getattr(module, n, None)
        if inspect.isfunction(obj) and getattr(obj, "__module__", "").startswith(module.__name__):
            out.append(obj)
    return out


def _api_groups() -> list:
    """[(title, intro, [function, ...]), ...] — the public functions of segmath grouped by kind."""
    import importlib
    import segmath
    groups = []
    for kind in ("loss", "metric", "transform"):
        fns = [e.fn for e in segmath.catalogue(kind)]
        groups.append((_KIND_TITLES[kind], f"Catalogue entries of kind `{kind}`.", fns))
    theory = _theory()
    if theory is not None:
        fns = [getattr(theory, n) for n in sorted(dir(theory))
               if not n.startswith("_") and inspect.isfunction(getattr(theory, n))]
        groups.append(("Theory: closed forms and verifications", "`segmath.theory`: one `verify_…` per theorem.", fns))
    for mod, title in (("segmath.symbolic", "Symbolic forms"), ("segmath.teaching.widgets.imbalance", "Widgets: imbalance"),
                       ("segmath.teaching.widgets.surrogate", "Widgets: surrogate gap"),
                       ("segmath.teaching.widgets.shapes", "Widgets: shapes")):
        try:
            m = importlib.import_module(mod)
        except Exception as exc:  # written by other modules; absent is not an error here
            print(f"[book] {mod} not documented ({exc!r})", file=sys.stderr)
            continue
        groups.append((title, f"`{mod}`.", _public_functions(m)))
    cat_mod, pair, stats = (importlib.import_module(f"segmath.{m}") for m in ("catalogue", "inputs", "stats"))
    groups.append(("Core", "The pieces every loss is built from.",
                   [cat_mod.catalogue, cat_mod.get, pair.make_pair, stats.soft_stats]))
    return groups


def _qualname(fn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _doc_hash(fn) -> str:
    import hashlib
    return hashlib.sha1((inspect.getdoc(fn) or "").encode()).hexdigest()[:16]


def _load_fallback() -> dict:
    """name -> {"warning", "doc"}: docstrings Sphinx warned about, while their text is unchanged."""
    try:
        data = json.loads(_FALLBACK.read_text()) if _FALLBACK.exists() else {}
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def api_page(fallback: dict | None = None) -> str:
    """MyST source of the API reference: one ``autofunction`` per public function.

    Functions in ``fallback`` (name -> {"warning", "doc"}) whose docstring is unchanged since Sphinx warned
    about it are shown as plain text instead, so that one badly formatted docstring cannot break the build;
    the build prints them, and an edited docstring is tried with autodoc again.
    """
    fallback = fallback or {}
    lines = ["<!-- GENERATED by `python tools/book.py generate`: do not edit. -->", "(api-reference)=",
             "# API reference", "",
             "Generated from the docstrings. Every function takes NumPy arrays or torch tensors "
             "(CPU or CUDA) and returns the same kind; `input` is `(N, C, *spatial)` logits by default and "
             "`target` integer labels `(N, *spatial)` or per-class values `(N, C, *spatial)`.", ""]
    seen = set()
    for title, intro, fns in _api_groups():
        fns = [f for f in fns if _qualname(f) not in seen]
        if not fns:
            continue
        lines += [f"## {title}", "", intro, ""]
        for fn in fns:
            q = _qualname(fn)
            seen.add(q)
            if q in fallback and fallback[q].get("doc") == _doc_hash(fn):   # edited docstrings get another try
                sig = f"{fn.__name__}{inspect.signature(fn)}"
                doc = inspect.getdoc(fn) or ""
                lines += [f"### `{fn.__name__}`", "", "```{admonition} Docstring shown as plain text",
                          ":class: warning", f"Sphinx warned on the docstring of `{q}`; it is shown verbatim.",
                          "```", "", "````text", sig, "", doc, "````", ""]
            else:
                lines += ["```{eval-rst}", f".. autofunction:: {q}", "```", ""]
    return "\n".join(lines) + "\n"


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def generate(verbose: bool = True) -> list:
    """Write book/catalogue.md and book/api.md; return the reference keys missing from the bib."""
    fallback = _load_fallback()
    cat, missing = catalogue_page()
    _write_if_changed(ROOT / GENERATED[0], cat)
    _write_if_changed(ROOT / GENERATED[1], api_page(fallback))
    if verbose and missing:
        print(f"[book] catalogue references missing from references.bib: {', '.join(missing)}")
    return missing


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------

def _jupyter_book(fresh: bool) -> tuple[int, list]:
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(ROOT),
           "--warningiserror", "--keep-going"] + (["--all"] if fresh else [])
    print("[book] " + " ".join(cmd[3:]), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(_ANSI.sub("", line.rstrip("\n")))
    return proc.wait(), lines


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DOCSTRING_WARNING = re.compile(r"docstring of ([\w.]+):?\d*:? (?:WARNING|ERROR|CRITICAL|SEVERE): (.*)")


def external_mathjax(html_dir: Path = HTML) -> list:
    """Built pages that load a MathJax script from outside the book (there must be none)."""
    bad = []
    for page in html_dir.rglob("*.html"):
        for src in re.findall(r"<script[^>]*src=\"([^\"]+)\"", page.read_text(encoding="utf-8", errors="replace")):
            if "mathjax" in src.lower() and re.match(r"(https?:)?//", src):
                bad.append(f"{page.relative_to(html_dir)}: {src}")
    return bad


def package_hash() -> str:
    """Hash of the segmath package's source: the chapters' outputs depend on it as much as on their text."""
    import hashlib
    h = hashlib.sha256()
    for f in sorted((ROOT / "segmath").rglob("*.py")):
        h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _invalidate_stale_cache():
    """jupyter-cache keys executions on the notebook text only; drop them when the package changed."""
    digest = package_hash()
    cache = BUILD / ".jupyter_cache"
    if cache.exists() and (not _SRC_HASH.exists() or _SRC_HASH.read_text() != digest):
        print("[book] the segmath package changed since the cached executions: re-executing the chapters")
        shutil.rmtree(cache)
        return digest, True
    return digest, False


def _resolve(qualname: str):
    """The function named ``module.qualname`` (None if it cannot be imported)."""
    import importlib
    module, _, name = qualname.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def build(fresh: bool = False) -> int:
    t0 = time.perf_counter()
    BUILD.mkdir(exist_ok=True)
    digest, invalidated = _invalidate_stale_cache()
    fresh = fresh or invalidated or _FAILED.exists()
    generate()
    _FAILED.touch()
    rc, lines = _jupyter_book(fresh)
    if rc != 0:
        # A docstring written elsewhere that Sphinx warns about is shown verbatim instead, and reported.
        fallback = _load_fallback()
        new = {m.group(1): m.group(2) for m in map(_DOCSTRING_WARNING.search, lines) if m}
        new = {k: {"warning": v, "doc": _doc_hash(_resolve(k))} for k, v in new.items() if _resolve(k) is not None}
        if new:
            fallback.update(new)
            _FALLBACK.write_text(json.dumps(fallback, indent=1))
            generate(verbose=False)
            rc, lines = _jupyter_book(True)
    for name, info in _load_fallback().items():
        fn = _resolve(name)
        if fn is not None and info.get("doc") == _doc_hash(fn):
            print(f"[book] docstring of {name} is shown as plain text; Sphinx said: {info.get('warning')}")
    if rc == 0:
        bad = external_mathjax()
        if bad:
            print("[book] MathJax loaded from outside the book:\n  " + "\n  ".join(bad))
            rc = 1
    if rc == 0:
        _FAILED.unlink(missing_ok=True)
        _SRC_HASH.write_text(digest)
    print(f"[book] build {'passed' if rc == 0 else 'FAILED'} in {time.perf_counter() - t0:.1f} s "
          f"-> {HTML}", flush=True)
    return rc


# --------------------------------------------------------------------------------------------
# browser check
# --------------------------------------------------------------------------------------------

def _ensure_chromium() -> tuple[str, str]:
    def find():
        browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        driver = shutil.which("chromedriver") or (os.path.exists("/usr/lib/chromium/chromedriver")
                                                  and "/usr/lib/chromium/chromedriver")
        return browser, driver
    browser, driver = find()
    if browser and driver:
        return browser, driver
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("[check] installing chromium and chromium-driver with apt-get", flush=True)
    install = sudo + ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
    if subprocess.call(install, env=env) != 0:
        subprocess.check_call(sudo + ["apt-get", "update", "-q"], env=env)
        subprocess.check_call(install, env=env)
    browser, driver = find()
    if not (browser and driver):
        raise RuntimeError("chromium / chromedriver not found after apt-get install")
    return browser, driver


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(directory: Path):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# Runs in the page: visible text outside code/math, images, MathJax errors, tracebacks, resources.
_PAGE_PROBE = r"""
const done = arguments[arguments.length - 1];
(async () => {
  const hasMJ = !!document.querySelector('script[src*="mathjax" i]');
  let typesetTimeout = false;
  if (hasMJ) {
    for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
      await new Promise(r => setTimeout(r, 100));
    if (window.MathJax && MathJax.startup && MathJax.startup.promise)
      typesetTimeout = await Promise.race([MathJax.startup.promise.then(() => false),
                                           new Promise(r => setTimeout(() => r(true), 30000))]);
  }
  for (const img of document.images) {
    img.loading = 'eager';
    if (!img.complete) await new Promise(r => { img.onload = img.onerror = r; setTimeout(r, 5000); });
  }
  // errors MathJax renders without an <mjx-merror>: undefined macros (noundefined package) in red
  const badTex = [];
  const mmlErrors = () => {
    if (!(window.MathJax && MathJax.startup && MathJax.startup.document && MathJax.startup.toMML)) return 0;
    let n = 0;
    for (const item of MathJax.startup.document.math) {
      const mml = MathJax.startup.toMML(item.root);
      if (mml.includes('<merror') || mml.includes('mathcolor="red"')) { n++; badTex.push(String(item.math).slice(0, 160)); }
    }
    return n;
  };
  const skip = 'pre, code, script, style, mjx-container, .highlight, textarea, .MathJax, mjx-assistive-mml, noscript';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const n = walker.currentNode, el = n.parentElement;
    if (!el || el.closest(skip)) continue;
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden') continue;
    parts.push(n.textContent);
  }
  // display maths wider than its box (cut off or scrolled at the edge of a theorem box or the page)
  const overflowMath = [];
  for (const el of document.querySelectorAll('mjx-container[display="true"]')) {
    const m = el.querySelector('mjx-math');
    if (!m) continue;
    const avail = el.getBoundingClientRect().width, need = m.getBoundingClientRect().width;
    if (need > avail + 1) overflowMath.push(Math.round(need) + 'px > ' + Math.round(avail) + 'px: ' +
                                            (el.getAttribute('aria-label') || el.textContent).slice(0, 80));
  }
  done({
    overflowMath: overflowMath,
    mathjax: hasMJ,
    typesetTimeout: typesetTimeout || (hasMJ && !(window.MathJax && MathJax.startup && MathJax.startup.promise)),
    typeset: document.querySelectorAll('mjx-container').length,
    merrors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length + mmlErrors(),
    badTex: badTex,
    text: parts.join(' '),
    body: document.body.innerText,
    badImages: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    images: document.images.length,
    tracebacks: document.querySelectorAll('.output.traceback, .output.error, .cell_output .traceback').length,
    staticExplorers: document.querySelectorAll('.segmath-static-explorer').length,
    liveExplorerCalls: Array.from(document.querySelectorAll('.cell_input pre, div.highlight pre'))
      .filter(p => /_explorer\(/.test(p.textContent)).length,
    resources: performance.getEntriesByType('resource').map(r => r.name),
  });
})();
"""

_UNRENDERED = re.compile(r"\$\$|\$[^\s$][^$]{0,200}?\$|\\\(|\\\)|\\\[|\\\]|\\(?:frac|sum|begin|mathrm|left|right)\b")


def _page_problems(r: dict, origin: str) -> list:
    problems = []
    r["text"] = " ".join(r["text"].split())
    if r.get("typesetTimeout"):
        problems.append("MathJax did not finish typesetting within 30 s")
    if r["merrors"] or "Math input error" in r["body"]:
        problems.append(f"{r['merrors']} MathJax error(s)" + (f" in {r['badTex'][:3]}" if r["badTex"] else ""))
    if r.get("overflowMath"):
        problems.append(f"{len(r['overflowMath'])} display-math block(s) wider than their box: "
                        f"{r['overflowMath'][:2]}")
    m = _UNRENDERED.search(r["text"])
    if m:
        i = m.start()
        problems.append(f"unrendered TeX: ...{r['text'][max(0, i - 40):i + 60]!r}...")
    if r["badImages"]:
        problems.append(f"missing image(s): {r['badImages'][:3]}")
    if r["tracebacks"] or "Traceback (most recent call last)" in r["body"]:
        problems.append("Python traceback in the page")
    ext = [u for u in r["resources"] if "mathjax" in u.lower() and not u.startswith(origin)]
    if ext:
        problems.append(f"MathJax loaded from outside: {ext[:2]}")
    ext = external_requests(r.get("requests", []) + r["resources"], origin)
    if ext:
        problems.append(f"{len(ext)} request(s) to outside the book: {ext[:3]}")
    if r.get("liveExplorerCalls") and not r.get("staticExplorers"):
        problems.append("a live explorer is called but the page has no static explorer")
    return problems


def external_requests(urls, origin: str) -> list:
    """The network URLs a page requested from anywhere but the local server (data:, blob: and the
    browser's own chrome:// pages are not network requests)."""
    network = re.compile(r"(?:https?|wss?|ftp):|//", re.I)
    return sorted({u for u in urls if u and network.match(u) and not u.startswith(origin)})


def _network_requests(drv) -> list:
    """URLs of every request the browser sent since the last call (Chrome's performance log)."""
    urls = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


# Moves the slider of one static explorer (matplotlib's to_jshtml player) and reports the image before/after.
_MOVE_SLIDER = r"""
const [box, steps] = arguments;
const img = box.querySelector('.animation img'), slider = box.querySelector('input.anim-slider');
if (!img || !slider) return {error: 'no player image or slider'};
const before = img.src, max = parseInt(slider.max);
slider.value = String(Math.min(max, parseInt(slider.value) + steps));
slider.dispatchEvent(new Event('input', {bubbles: true}));
slider.dispatchEvent(new Event('change', {bubbles: true}));
return {parameter: box.dataset.parameter, frames: max + 1, value: slider.value,
        changed: img.src !== before && img.src.length > 100, width: img.naturalWidth,
        bytes: box.outerHTML.length};
"""


def _move_static_sliders(drv, page: str) -> tuple[list, list]:
    """Move every static explorer's slider on the page (by the keyboard, as a reader would, then by
    setting its value); return (problems, one line per explorer); screenshot each explorer after the move."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    problems, lines = [], []
    shots = BUILD / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for i, box in enumerate(drv.find_elements(By.CSS_SELECTOR, ".segmath-static-explorer")):
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        img = box.find_element(By.CSS_SELECTOR, ".animation img")
        slider = box.find_element(By.CSS_SELECTOR, "input.anim-slider")
        before = img.get_attribute("src")
        slider.send_keys(*[Keys.ARROW_RIGHT] * 5)          # the keyboard: fires input/change like a drag
        keyed = img.get_attribute("src") != before
        r = drv.execute_script(_MOVE_SLIDER, box, 5)
        name = f"{Path(page).stem}_explorer{i}_{r.get('parameter')}.png"
        box.screenshot(str(shots / name))
        ok = keyed and r.get("changed") and r.get("width", 0) > 0
        lines.append(f"        explorer {i} ({r.get('parameter')}, {r.get('frames')} frames, "
                     f"{r.get('bytes', 0) / 1e6:.2f} MB): arrow keys -> image {'changed' if keyed else 'SAME'}, "
                     f"slider to frame {r.get('value')} -> image {'changed' if r.get('changed') else 'SAME'}; "
                     f"screenshot {shots.name}/{name}")
        if not ok:
            problems.append(f"static explorer {i} ({r.get('parameter')}): moving its slider did not change "
                            f"the picture ({r.get('error', 'same image')})")
    return problems, lines


def _probe_page(drv, url, attempts: int = 2):
    """Load a page and run the probe; a page that does not settle is reloaded once (machines under load)."""
    from selenium.common.exceptions import TimeoutException
    for _ in range(attempts):
        try:
            _network_requests(drv)                      # forget the previous page's requests
            drv.get(url)
            r = drv.execute_async_script(_PAGE_PROBE)
            r["requests"] = _network_requests(drv)
            return r
        except TimeoutException:
            continue
    return None


def check(html_dir: Path = HTML, screenshot_page: str = "book/03_imbalanced.html") -> int:
    if not (html_dir / "index.html").exists():
        print(f"[check] no built book in {html_dir}; run `make book` first")
        return 1
    browser, driver_path = _ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    pages = sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html")
                   if not p.relative_to(html_dir).as_posix().startswith(("_static/", "_sources/", "_images/")))
    server = _serve(html_dir)
    origin = f"http://127.0.0.1:{server.server_address[1]}/"
    profile = tempfile.mkdtemp(prefix="segmath-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})   # every request, for the offline check
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1600", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    drv.set_script_timeout(90)
    drv.set_page_load_timeout(90)
    failures = 0
    shot = None
    t0 = time.perf_counter()
    try:
        for page in pages:
            t = time.perf_counter()
            r = _probe_page(drv, origin + page)
            problems = _page_problems(r, origin) if r is not None else ["the page did not settle in 90 s (twice)"]
            explorer_lines = []
            if r is not None and r.get("staticExplorers"):
                moved, explorer_lines = _move_static_sliders(drv, page)
                problems += moved
            r = r or {"typeset": 0, "images": 0}
            failures += bool(problems)
            status = "FAIL" if problems else "ok  "
            print(f"[check] {status} {page:40s} math={r['typeset']:4d} images={r['images']:3d} "
                  f"{time.perf_counter() - t:5.2f}s" + ("  " + "; ".join(problems) if problems else ""),
                  flush=True)
            for line in explorer_lines:
                print(line, flush=True)
            if page == screenshot_page:
                shot = BUILD / "screenshot_03_imbalanced.png"
                drv.save_screenshot(str(shot))
    finally:
        drv.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"[check] {len(pages) - failures}/{len(pages)} pages passed in {time.perf_counter() - t0:.1f} s"
          + (f"; screenshot {shot}" if shot else ""))
    return 1 if failures or not pages else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/book.py", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("build", "generate", "check"))
    ap.add_argument("--all", action="store_true", help="build: re-read every page (execution stays cached)")
    args = ap.parse_args(argv)
    if args.command == "generate":
        generate()
        return 0
    if args.command == "build":
        return build(fresh=args.all)
    return check()


if __name__ == "__main__":
    sys.exit(main())
