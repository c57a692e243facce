"""Widget latency in a real browser: from an arrow key on a live explorer's slider to the new image.

``benchmarks/widgets.py`` times the Python callback alone.  This script measures what a reader feels:
it starts ``jupyter lab`` headless (a free localhost port, a random token, a temporary notebook
directory), opens a notebook that shows each live explorer of ``segmath.teaching.widgets`` in Debian's
Chromium driven by Selenium (the browser ``tools/book.py check`` installs), runs its cells, and then, for
each slider, presses the right-arrow key on the slider's handle ``--steps`` times.  In the page, a
``keydown`` listener records the key event's time stamp and a ``MutationObserver`` on the explorer's
``<img>`` records when its ``src`` changes to the new frame; the image's ``load`` event (and the next
animation frame) marks the new picture decoded and painted.  Latency = painted - key event, per step.

Steps are sent one at a time (the next key after the previous picture is painted and a short pause,
``--pause``), so the numbers are single-step latencies, not a queue.  Every key moves the slider to a value
not shown before in the run, so the explorers' cache of frames already shown does not flatter the numbers;
their rendering of the next step ahead (``segmath.teaching.widgets.render.FrameSource``) does count, as it
does for a reader who steps a slider one way.  The ``floor`` row is a slider that only swaps precomputed
PNGs (``widget_latency_floor.py``): what JupyterLab, the comm and the browser cost on this machine.

``--src DIR`` makes the kernel import ``segmath`` from ``DIR`` first (e.g. an exported older commit:
``git archive <commit> segmath | tar -x -C DIR``), so two versions are measured in the same conditions
by one invocation: ``--src before=DIR --src after=.`` runs them alternately, ``--rounds`` times.

This is a benchmark, never a test: the numbers depend on the machine and its load (recorded).

    python benchmarks/widget_latency.py [--steps 10] [--src NAME=DIR ...] [--rounds 1]
                                        [--out benchmarks/results/widgets_latency_cpu.md]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

# name -> the call that shows the live explorer (each box gets a CSS class the page script finds)
EXPLORERS = {
    "imbalance": "from segmath.teaching.widgets.imbalance import imbalance_explorer as make",
    "surrogate": "from segmath.teaching.widgets.surrogate import surrogate_explorer as make",
    "shapes": "from segmath.teaching.widgets.shapes import shape_explorer as make",
    # the floor: a slider that only swaps precomputed PNGs of an explorer's size (no Python work), i.e.
    # what JupyterLab, the comm and the browser cost on this machine
    "floor": "from widget_latency_floor import floor_explorer as make",
}

# Arms the probes for one step: key time, src change, load + next animation frame.
_ARM = r"""
const [root, label] = arguments;
const img = root.querySelector('img');
const b = window.__bench = {key: null, src: null, painted: null, before: img.src};
if (window.__benchKey) document.removeEventListener('keydown', window.__benchKey, true);
window.__benchKey = (e) => { if (b.key === null) b.key = e.timeStamp; };
document.addEventListener('keydown', window.__benchKey, true);
if (window.__benchObs) window.__benchObs.disconnect();
const seen = (el) => {
  if (b.src !== null || el.src === b.before) return;
  b.src = performance.now();
  const done = () => requestAnimationFrame(() => { b.painted = performance.now(); });
  if (el.complete && el.naturalWidth > 0) done(); else el.addEventListener('load', done, {once: true});
};
window.__benchObs = new MutationObserver(() => seen(root.querySelector('img')));
window.__benchObs.observe(root, {attributes: true, attributeFilter: ['src'], subtree: true, childList: true});
// the slider's handle, found by its description
for (const s of root.querySelectorAll('.widget-slider')) {
  const l = s.querySelector('.widget-label');
  if (l && l.textContent.trim() === label) { const h = s.querySelector('.noUi-handle'); h.focus(); return true; }
}
return false;
"""

_WAIT = r"""
const done = arguments[arguments.length - 1], limit = performance.now() + arguments[0];
(function poll() {
  const b = window.__bench;
  if (b.painted !== null || performance.now() > limit) done(b); else setTimeout(poll, 2);
})();
"""

_READY = r"""
const out = {};
for (const name of arguments[0]) {
  const root = document.querySelector('.segmath-bench-' + name);
  const img = root && root.querySelector('img');
  out[name] = !!(img && img.src && img.naturalWidth > 0);
}
return out;
"""


# Runs every cell of the open notebook once its kernel is idle (JupyterLab started with --expose-app-in-browser).
_RUN_ALL = r"""
const a = window.jupyterapp;
if (!a) return false;
const panel = Array.from(a.shell.widgets('main')).find((w) => w.sessionContext);
const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
if (!kernel || kernel.status !== 'idle') return false;
a.shell.activateById(panel.id);
a.commands.execute('notebook:run-all-cells');
return true;
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(src: str | None, names) -> dict:
    cells = ["import sys\n" + f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
             + (f"sys.path.insert(0, {src!r})\n" if src else "")
             + "import matplotlib\nmatplotlib.use('Agg')\nimport segmath\nprint(segmath.__file__)"]
    for name in names:
        cells.append(f"{EXPLORERS[name]}\nbox = make()\nbox.add_class('segmath-bench-{name}')\nbox")
    return {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                       "source": c} for c in cells],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def _sliders(name):
    """(description, number of right-arrow steps available) of each slider of the explorer, in order."""
    if name == "floor":
        return [("frame", 40)]
    import matplotlib
    matplotlib.use("Agg")
    from widgets import _parts, explorers
    sliders, _ = _parts(explorers()[name]())
    out = []
    for label, s in sliders.items():
        value = s.value if not hasattr(s, "base") else __import__("math").log(s.value, s.base)
        out.append((label, int(round((s.max - value) / s.step))))
    return out


class Lab:
    """``jupyter lab`` on a free localhost port with a token, serving a temporary directory."""

    def __init__(self, root: pathlib.Path):
        self.port, self.token, self.root = _free_port(), secrets.token_hex(16), root
        jupyter = pathlib.Path(sys.executable).with_name("jupyter")
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(root / ".runtime"), JUPYTER_CONFIG_DIR=str(root / ".config"),
                   JUPYTERLAB_WORKSPACES_DIR=str(root / ".workspaces"))
        self.log = open(root / ".lab.log", "w")
        self.proc = subprocess.Popen(
            [str(jupyter), "lab", "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             "--expose-app-in-browser", "--LabApp.news_url=", "--ServerApp.port_retries=0",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.extension_manager=readonly"] + (["--allow-root"] if os.geteuid() == 0 else []),
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=root)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/status?token={self.token}", timeout=5)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        self.close()
        raise RuntimeError(f"jupyter lab did not start; see {root / '.lab.log'}")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/lab/tree/{path}?reset&token={self.token}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def _driver():
    from book import _ensure_chromium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    browser, driver_path = _ensure_chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    profile = tempfile.mkdtemp(prefix="segmath-latency-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,3000", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    drv.set_script_timeout(300)
    drv.set_page_load_timeout(120)
    return drv, profile


def _run_notebook(drv, lab, nb_name, names, timeout=300):
    drv.get(lab.url(nb_name))
    deadline = time.time() + timeout
    ran = False
    while time.time() < deadline:
        if not ran:
            ran = drv.execute_script(_RUN_ALL)
        elif all(drv.execute_script(_READY, list(names)).values()):
            return
        time.sleep(0.5)
    shot = pathlib.Path(tempfile.gettempdir(), "segmath-latency-failure.png")
    drv.save_screenshot(str(shot))
    state = drv.execute_script("const a = window.jupyterapp; return a ? Array.from(a.shell.widgets('main'))"
                               ".map((w) => w.title.label).join(', ') : 'no window.jupyterapp';")
    raise RuntimeError(f"the explorers of {nb_name} did not appear in {timeout} s (ran: {ran}; tabs: "
                       f"{state}; screenshot {shot})")


def measure(drv, lab, version, src, steps, pause):
    names = list(EXPLORERS)
    nb_name = "explorers_" + "".join(c if c.isalnum() else "_" for c in version) + ".ipynb"
    (lab.root / nb_name).write_text(json.dumps(_notebook(src, names)))
    _run_notebook(drv, lab, nb_name, names)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    rows = []
    for name in names:
        root = drv.find_element(By.CSS_SELECTOR, f".segmath-bench-{name}")
        drv.execute_script("arguments[0].scrollIntoView({block: 'start'});", root)
        for label, room in _sliders(name):
            n = min(steps, room - 1)               # room for the warm-up key too
            key_to_src, key_to_paint, same = [], [], 0
            for k in range(n + 1):                 # the first step warms up (fonts, caches) and is dropped
                if not drv.execute_script(_ARM, root, label):
                    raise RuntimeError(f"{name}: no slider labelled {label!r}")
                drv.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
                b = drv.execute_async_script(_WAIT, 5_000)
                if b["key"] is None:
                    raise RuntimeError(f"{name} / {label}: the key did not reach the page ({b})")
                if b["painted"] is None:           # the new value draws the same picture: nothing to wait for
                    same += 1
                elif k:
                    key_to_src.append(b["src"] - b["key"])
                    key_to_paint.append(b["painted"] - b["key"])
                time.sleep(pause)
            if same:
                print(f"[latency] {version} {name} / {label}: {same} of {n + 1} steps left the picture as it was",
                      flush=True)
            rows.append((version, name, label, key_to_src, key_to_paint))
    drv.execute_script("window.jupyterapp.commands.execute('kernelmenu:shutdown');")
    return rows


def _p90(v):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]


def table(rows, loads, command):
    import ipywidgets
    import jupyterlab
    import matplotlib
    import selenium
    import torch
    from widgets import _machine
    browser = subprocess.run([shutil.which("chromium") or "chromium", "--version"], capture_output=True,
                             text=True).stdout.strip()
    lines = [
        "# Widget latency in JupyterLab (arrow key on a live slider -> new image painted)",
        "",
        f"Machine: {_machine()}, {os.cpu_count()} cores; load average (1, 5, 15 min) per run: "
        + "; ".join(f"{v} {', '.join(f'{x:.2f}' for x in a)} -> {', '.join(f'{x:.2f}' for x in b)}"
                    for v, a, b in loads)
        + f". torch {torch.__version__}, matplotlib {matplotlib.__version__}, ipywidgets {ipywidgets.__version__}, "
        f"JupyterLab {jupyterlab.__version__}, {browser} (headless, Selenium {selenium.__version__}), "
        f"Python {platform.python_version()}.",
        "",
        f"Command: `{command}`",
        "",
        "Each step: Selenium sends one right-arrow key to the focused slider handle; in the page the key "
        "event's time stamp starts the clock, a MutationObserver sees the explorer's `<img>` get its new "
        "`src` (\"src\"), and its `load` event plus the next animation frame mark the new picture painted "
        "(\"painted\"). One key at a time, each to a value not seen before; the first key of every slider "
        "is a warm-up and is not counted. Bar: well under 100 ms.",
        "",
        "| version | explorer | slider | steps | painted median ms | painted p90 ms | painted max ms | "
        "src median ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for version, name, label, src, paint in rows:
        if not paint:
            continue
        lines.append(f"| {version} | {name} | {label} | {len(paint)} | {statistics.median(paint):.1f} | "
                     f"{_p90(paint):.1f} | {max(paint):.1f} | {statistics.median(src):.1f} |")
    lines.append("")
    for version in dict.fromkeys(r[0] for r in rows):
        for name in EXPLORERS:
            allp = [p for r in rows if r[0] == version and r[1] == name for p in r[4]]
            if allp:
                lines.append(f"- {version}, {name}: {len(allp)} steps, painted median {statistics.median(allp):.1f} ms, "
                             f"p90 {_p90(allp):.1f} ms, max {max(allp):.1f} ms")
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=10, help="arrow-key steps per slider (fewer where it has less room)")
    ap.add_argument("--src", action="append", default=[],
                    help="NAME=DIR: measure segmath imported from DIR (repeatable); default: the installed one")
    ap.add_argument("--rounds", type=int, default=1, help="how many times to measure every version, alternating")
    ap.add_argument("--pause", type=float, default=0.15, help="seconds between steps")
    ap.add_argument("--out", type=pathlib.Path, default=None, help="write the markdown table here")
    args = ap.parse_args(argv)
    versions = [tuple(s.split("=", 1)) for s in args.src] or [("installed", None)]
    versions = [(v, str(pathlib.Path(d).resolve()) if d else None) for v, d in versions]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="segmath-latency-"))
    lab = Lab(tmp)
    drv, profile = _driver()
    rows, loads = [], []
    try:
        for r in range(args.rounds):
            for version, src in versions:
                before = os.getloadavg()
                label = version if args.rounds == 1 else f"{version} #{r + 1}"
                rows += measure(drv, lab, label, src, args.steps, args.pause)
                loads.append((label, before, os.getloadavg()))
    finally:
        drv.quit()
        lab.close()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    command = "python benchmarks/widget_latency.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = table(rows, loads, command.strip())
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
