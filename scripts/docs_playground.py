"""MkDocs hooks for the playground (``docs/playground/``, ``mkdocs.yml``: ``hooks``):

- after the build, ``site/playground/`` gets the Pyodide runtime, copied from the npm package
  ``pyodide`` (``node_modules/pyodide``, pinned in package.json; ``npm ci`` installs it), and
  ``lrkit.zip``: the lrkit package of ``src/`` and ``lrkit_playground.py``, which the page
  unpacks into Pyodide. Nothing comes from a CDN: the site is served as it is, offline;
- every chart drawn by ``scripts/make_doc_images.sh`` (a strategy page's ``plot`` or a
  gallery ``recipe``) gets a link under its picture that opens the same schedules, steps and
  peak in the playground, and the playground's gallery menu lists them all;
- ``<!-- lrkit:playground STEPS PEAK SPEC -->`` in a page becomes such a link for a schedule
  that has no chart (``plateau``).
"""

from __future__ import annotations

import html
import re
import shlex
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]
PYODIDE = ROOT / "node_modules" / "pyodide"
PYODIDE_FILES = ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip",
                 "pyodide-lock.json")
"""What Pyodide needs to start without a network (no package of its own is loaded)."""
PAGE = "playground/index.md"
APP = ROOT / "docs" / "playground" / "lrkit_playground.py"
IMAGES = ROOT / "scripts" / "make_doc_images.sh"

_IMAGE = re.compile(r"^!\[[^\]]*\]\((?:\.\./)*img/((?:recipes/)?[A-Za-z0-9_-]+)\.png\)[ \t]*$",
                    re.M)
_MARK = re.compile(r"<!-- lrkit:playground (\S+) (\S+) (.+?) -->")


@dataclass(frozen=True)
class Chart:
    """A chart of make_doc_images.sh: its picture (``img/NAME.png``), title and schedules."""

    image: str
    title: str
    steps: str
    peak: str
    specs: tuple[str, ...]

    @property
    def fragment(self) -> str:
        return fragment(self.specs, self.steps, self.peak)


def fragment(specs: tuple[str, ...] | list[str], steps: str, peak: str) -> str:
    """``#spec=...&spec=...&steps=N&peak=X``, each value URL-encoded."""
    parts = [f"spec={quote(s, safe='')}" for s in specs]
    parts += [f"steps={quote(steps, safe='')}", f"peak={quote(peak, safe='')}"]
    return "#" + "&".join(parts)


def _branches(spec: str, steps: int, options: list[str]) -> list[str]:
    """The cooldown branches that ``lrkit plot --branches A,B --cooldown N|P%`` adds."""
    if not options:
        return []
    from lrkit import parse
    from lrkit.plot import cooldown_branches

    opts = dict(zip(options[::2], options[1::2], strict=True))
    length = opts.get("--cooldown", "")
    kw: dict[str, float] = ({"fraction": float(length[:-1]) / 100} if length.endswith("%")
                            else {"cooldown": float(length)})
    ats = [float(a) for a in opts["--branches"].split(",")]
    made = cooldown_branches(parse(spec), steps, ats, shape=opts.get("--shape", "1-sqrt"),
                             end=float(opts.get("--end", 0.0)), **kw)
    return [str(b) for b in made]


def charts() -> dict[str, Chart]:
    """The charts of make_doc_images.sh by picture (``cosine``, ``recipes/nanogpt``)."""
    text = IMAGES.read_text(encoding="utf-8").replace("\\\n", " ")
    out: dict[str, Chart] = {}
    for line in text.splitlines():
        if not line.startswith(("plot ", "recipe ")):
            continue
        words = shlex.split(line)
        if words[0] == "recipe":
            _, name, steps, peak, title, spec, *options = words
            specs = (spec, *_branches(spec, int(steps), options))
            out[f"recipes/{name}"] = Chart(f"recipes/{name}", title, steps, peak, specs)
            continue
        name, steps, rest = words[1], words[2], words[3:]
        peak, title, specs = "1.0", name, []
        i = 0
        while i < len(rest):
            if rest[i] in ("--base-lr", "--title"):
                if rest[i] == "--base-lr":
                    peak = rest[i + 1]
                else:
                    title = rest[i + 1]
                i += 2
            elif rest[i].startswith("--"):
                i += 1  # a flag such as --log
            else:
                specs.append(rest[i])
                i += 1
        out[name] = Chart(name, title, steps, peak, tuple(specs))
    if not out:
        raise PluginError(f"{IMAGES}: no chart found")
    return out


def _link(href: str) -> str:
    return (f'\n\n<p class="lrkit-playground-link"><a href="{html.escape(href)}">'
            "Open in the playground</a></p>\n")


def _playground(page: Any) -> str:
    """The playground's address relative to ``page`` (directory URLs: ``strategies/cosine/``
    is two folders down)."""
    return "../" * page.url.count("/") + "playground/"


def _gallery() -> str:
    groups: dict[str, list[str]] = {"Recipe gallery": [], "Strategy pages": []}
    for key, chart in charts().items():
        group = "Recipe gallery" if key.startswith("recipes/") else "Strategy pages"
        groups[group].append(f'<option value="{html.escape(chart.fragment)}">'
                             f"{html.escape(chart.title)}</option>")
    body = "".join(f'<optgroup label="{html.escape(g)}">{"".join(o)}</optgroup>'
                   for g, o in groups.items())
    return f'<select id="pg-gallery"><option value="">pick a schedule…</option>{body}</select>'


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri == PAGE:
        return markdown.replace("<!-- lrkit:playground-gallery -->", _gallery())
    known = charts()
    base = _playground(page)

    def under_picture(m: re.Match[str]) -> str:
        chart = known.get(m.group(1))
        return m.group(0) if chart is None else m.group(0) + _link(base + chart.fragment)

    def marker(m: re.Match[str]) -> str:
        return _link(base + fragment([m.group(3)], m.group(1), m.group(2)))

    markdown = _IMAGE.sub(under_picture, markdown)
    return _MARK.sub(marker, markdown)


def package(target: Path) -> None:
    """``target``: a zip of the lrkit package (its Python files) and lrkit_playground.py."""
    src = ROOT / "src" / "lrkit"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(src.rglob("*")):
            if path.suffix in (".py", ".typed") and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(str(Path("lrkit") / path.relative_to(src)))
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, path.read_bytes())
        info = zipfile.ZipInfo(APP.name)
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, APP.read_bytes())


def on_post_build(config: Any) -> None:
    if not (Path(config["docs_dir"]) / PAGE).is_file():
        return  # a site without the playground (the tests' small sites)
    missing = [f for f in PYODIDE_FILES if not (PYODIDE / f).is_file()]
    if missing:
        raise PluginError(
            f"the playground needs the npm package pyodide in {PYODIDE} (missing {missing}): "
            "run `npm ci` in the repository (scripts/setup-env.sh does)")
    out = Path(config["site_dir"]) / "playground"
    (out / "pyodide").mkdir(parents=True, exist_ok=True)
    for name in PYODIDE_FILES:
        shutil.copyfile(PYODIDE / name, out / "pyodide" / name)
    package(out / "lrkit.zip")
