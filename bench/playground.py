"""The docs playground (site/playground/) in headless Chromium: the harness that
tests/test_playground.py drives, and a benchmark of how fast the page starts and redraws.

``python -m bench.playground`` builds the site (``scripts/docs.sh``; or ``--site DIR``), serves
it on 127.0.0.1, opens the playground ``--loads`` times in a fresh browser profile each (Debian's
``/usr/bin/chromium`` driven by Playwright, nothing downloaded) and writes
bench/results/playground.md with the page's own timings (``window.lrkitPlayground.timings``,
``performance.now()`` in the page: Pyodide's start, lrkit's import, the first chart) and the
redraw times for 100,000 steps, and the screenshot bench/results/playground.png.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium (scripts/setup-env.sh installs it); Playwright downloads no browser."""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_MS = 180_000
"""Pyodide starts in seconds; a loaded shared machine can take much longer."""
ALLOWED_ELSEWHERE = {"api.github.com"}
"""Requests the page may make off the site and do without: the theme's repository badge."""


def fragment(specs: list[str], steps: int | str, peak: float | str) -> str:
    """The playground's URL state: ``#spec=...&spec=...&steps=N&peak=X``."""
    parts = [f"spec={quote(s, safe='')}" for s in specs]
    parts += [f"steps={quote(str(steps), safe='')}", f"peak={quote(str(peak), safe='')}"]
    return "#" + "&".join(parts)


def build_site(site: Path) -> subprocess.CompletedProcess[str]:
    """``bash scripts/docs.sh --site-dir site`` with this interpreter (strict)."""
    return subprocess.run(["bash", "scripts/docs.sh", "--site-dir", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DOCS_PYTHON": sys.executable})


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """The built site on a throwaway HTTP server at 127.0.0.1; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def require_chromium() -> None:
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: bash scripts/setup-env.sh installs Debian's "
                           "chromium (apt-get install -y chromium)")


@contextmanager
def browser(profile: Path | None = None) -> Iterator[Any]:
    """A Playwright browser context on headless Debian chromium with a fresh profile
    (``--user-data-dir``): no cache from an earlier load."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with tempfile.TemporaryDirectory(prefix="lrkit-chromium-") as tmp, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile or tmp), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1200, "height": 1000})
        try:
            yield context
        finally:
            context.close()


class Page:
    """One playground tab: ``page`` (Playwright's), the requests it made off the site, and the
    helpers that read the page's state."""

    def __init__(self, context: Any, base: str) -> None:
        self.base = base
        self.page = context.new_page()
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        local = urlsplit(base).netloc

        def route(r: Any) -> None:
            if urlsplit(r.request.url).netloc == local:
                r.continue_()
            else:  # nothing leaves the machine: the page must work without it
                self.elsewhere.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, frag: str = "") -> Page:
        self.page.goto(self.base + "playground/" + frag)
        self.page.wait_for_function(
            "window.lrkitPlayground && (window.lrkitPlayground.ready || "
            "window.lrkitPlayground.failed !== null)", timeout=START_TIMEOUT_MS)
        failed = self.page.evaluate("window.lrkitPlayground.failed")
        if failed:
            raise AssertionError(f"the playground did not start: {failed}")
        return self

    def set(self, specs: list[str] | None = None, steps: int | str | None = None,
            peak: float | str | None = None) -> None:
        """Type into the inputs (as a user does: input events) and wait for the redraw."""
        if specs is not None:
            box = self.page.locator("#pg-specs")
            box.fill("")
            box.press_sequentially("\n".join(specs))
        if steps is not None:
            self.page.locator("#pg-steps").fill(str(steps))
        if peak is not None:
            self.page.locator("#pg-peak").fill(str(peak))
        self.page.wait_for_function("window.lrkitPlayground.idle()")

    @property
    def hash(self) -> str:
        return str(self.page.evaluate("location.hash"))

    def inputs(self) -> tuple[list[str], str, str]:
        specs = [s.strip() for s in self.page.input_value("#pg-specs").split("\n") if s.strip()]
        return specs, self.page.input_value("#pg-steps"), self.page.input_value("#pg-peak")

    def state(self) -> dict[str, Any]:
        """What the page shows: per curve the input, canonical spec, error and note as text,
        the drawn steps and rates (the ``data-t``/``data-v`` strings), the boundaries marked;
        and the page's own error (steps, peak)."""
        result: dict[str, Any] = self.page.evaluate("""() => {
          const text = (e) => e ? e.textContent : null;
          const curves = [...document.querySelectorAll('#pg-curves > li')].map((li) => {
            const i = li.dataset.curve;
            const line = document.querySelector(`.pg-curve[data-curve="${i}"]`);
            return {
              input: text(li.querySelector('.pg-input')),
              canonical: text(li.querySelector('.pg-canonical')),
              error: text(li.querySelector('.pg-spec-error')),
              note: text(li.querySelector('.pg-note')),
              snippets: Object.fromEntries([...li.querySelectorAll('.pg-snippet')].map(
                (p) => [p.dataset.framework, p.textContent])),
              t: line ? line.dataset.t : null,
              v: line ? line.dataset.v : null,
              boundaries: [...document.querySelectorAll(`.pg-boundary[data-curve="${i}"]`)]
                .map((b) => b.dataset.step),
            };
          });
          const err = document.getElementById('pg-error');
          return {curves, error: err.hidden ? null : err.textContent};
        }""")
        for c in result["curves"]:
            c["t"] = [int(x) for x in c["t"].split()] if c["t"] else []
            c["v"] = [float(x) for x in c["v"].split()] if c["v"] else []
            c["boundaries"] = [float(b) for b in c["boundaries"]]
        return result

    def hover(self, fraction: float) -> tuple[int, dict[int, float]]:
        """Move the pointer over the chart at ``fraction`` of the plot's width: the step and
        the rates the page reads out there (curve -> rate)."""
        svg = self.page.locator("#pg-chart svg")
        box = svg.bounding_box()
        assert box is not None
        geo = self.page.evaluate("""() => { const s = document.querySelector('#pg-chart svg');
          return [Number(s.dataset.left), Number(s.dataset.width), s.viewBox.baseVal.width]; }""")
        left, width, full = geo
        self.page.evaluate("delete document.getElementById('pg-readout').dataset.step")
        scale = box["width"] / full
        self.page.mouse.move(box["x"] + (left + fraction * width) * scale,
                             box["y"] + box["height"] / 2)
        self.page.wait_for_function("document.getElementById('pg-readout').dataset.step")
        step = int(self.page.evaluate("document.getElementById('pg-readout').dataset.step"))
        values = self.page.evaluate("""() => Object.fromEntries(
          [...document.querySelectorAll('#pg-readout .pg-value')].map(
            (e) => [e.dataset.curve, e.dataset.value]))""")
        return step, {int(k): float(v) for k, v in values.items()}

    def timings(self) -> dict[str, Any]:
        return dict(self.page.evaluate("window.lrkitPlayground.timings"))

    def redraw_ms(self, repeats: int) -> dict[str, list[float]]:
        """``repeats`` redraws of the current inputs, measured in the page (performance.now()):
        ``total`` (layout included) and its parts: ``python`` (lrkit_playground.render in
        Pyodide), ``chart`` (the SVG placed, each curve's series fetched and drawn), ``text``
        (specs, errors, code), ``layout``."""
        out: list[dict[str, float]] = self.page.evaluate(f"""() => {{
          const a = window.lrkitPlayground, r = [];
          for (let i = 0; i < {repeats}; i++) {{
            a.redraw(); r.push({{total: a.lastRedrawMs, ...a.lastParts}});
          }}
          return r; }}""")
        return {k: [x[k] for x in out] for k in out[0]}


# --- the benchmark -------------------------------------------------------------------------------

SHOWCASE = ["warmup(cosine(steps=90000, end=0.01), steps=10000)",
            "wsd(warmup=2000, stable=78000, decay=20000, decay_shape=\"1-sqrt\")",
            "cyclic(0.1, 1.0, 5000, mode=\"triangular2\")"]
LONG = ["warmup(cosine(steps=90000, end=0.01), steps=10000)", "step_decay(3000, 0.5)",
        "cyclic(0.1, 1.0, 2000)", "wsd(1000, 80000, 19000)"]


def _ms(xs: list[float]) -> str:
    return f"{statistics.median(xs):.0f} ms (min {min(xs):.0f}, max {max(xs):.0f})"


def _redraw(what: str, parts: dict[str, list[float]]) -> list[str]:
    return [f"| {what} | {_ms(parts['total'])} | " + " | ".join(
        f"{statistics.median(parts[k]):.1f} ms" for k in ("python", "chart", "text", "layout"))
        + " |"]


def main(argv: list[str] | None = None) -> None:
    from bench.machine import header, write_report

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, help="a built site (default: build one)")
    ap.add_argument("--loads", type=int, default=3, help="page loads, a fresh profile each")
    ap.add_argument("--repeats", type=int, default=20, help="redraws per measurement")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        site = args.site
        if site is None:
            site = Path(tmp) / "site"
            proc = build_site(site)
            if proc.returncode:
                raise SystemExit(proc.stdout + proc.stderr)
        loads: list[dict[str, Any]] = []
        with serve(site) as base:
            for _ in range(args.loads):
                with browser() as context:
                    loads.append(Page(context, base).open().timings())
            with browser() as context:
                page = Page(context, base).open(fragment(LONG[:1], 100_000, 3e-4))
                one = page.redraw_ms(args.repeats)
                page.set(LONG)
                four = page.redraw_ms(args.repeats)
                points = len(page.state()["curves"][0]["t"])
                page.set(SHOWCASE, 100_000, 3e-4)
                page.page.evaluate("window.scrollTo(0, 0)")
                page.hover(0.3)
                box = page.page.locator("#pg").bounding_box()
                assert box is not None
                page.page.screenshot(path=str(args.out / "playground.png"), clip={
                    "x": box["x"], "y": box["y"], "width": box["width"], "height": 760})
                elsewhere = sorted({urlsplit(u).netloc for u in page.elsewhere})
    lines = [header("The docs playground in headless Chromium", packages=("playwright",)),
             f"- browser: Debian chromium ({CHROMIUM}), headless, a fresh profile per load",
             "",
             "The page's own clock (`performance.now()`, `window.lrkitPlayground.timings`): "
             "Pyodide's start (`loadPyodide`, from the site's own copy of the npm package), "
             "lrkit's import (fetch and unpack lrkit.zip, `import lrkit_playground`, which "
             "imports lrkit), the first chart (the default spec, 10,000 steps). Redraws: "
             f"`window.lrkitPlayground.redraw()` {args.repeats} times at 100,000 steps (Python "
             f"in Pyodide evaluates each curve at {points:,} steps, boundaries included, then the "
             "page places the SVG; layout included).",
             "",
             "| load | Pyodide start | lrkit import | first chart | page open to chart |",
             "|---:|---:|---:|---:|---:|"]
    for i, t in enumerate(loads, 1):
        lines.append(f"| {i} | {t['pyodideMs']:.0f} ms | {t['lrkitImportMs']:.0f} ms | "
                     f"{t['firstDrawMs']:.0f} ms | {t['sincePageOpenMs']:.0f} ms |")
    lines += ["",
              "| redraw at 100,000 steps | total: median (min, max) | Python (median) | "
              "chart | text | layout |",
              "|---|---:|---:|---:|---:|---:|",
              *_redraw("1 curve", one), *_redraw("4 curves", four), "",
              "- load average at the end: "
              + ", ".join(f"{x:.2f}" for x in os.getloadavg())
              + " (2 cores shared: every time above is stretched by the other jobs)",
              f"- requests off the site (refused; the page works without them): "
              f"{', '.join(elsewhere) or 'none'}",
              "",
              "![the playground](playground.png)", ""]
    write_report(args.out, "playground.md", lines)


if __name__ == "__main__":
    main()
