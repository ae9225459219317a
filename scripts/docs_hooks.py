"""MkDocs hooks for the lrkit site (``mkdocs.yml``: ``hooks``), run at build time:

- ``<!-- lrkit:cli-help -->`` in a page becomes the ``--help`` text of ``lrkit`` and of each of
  its subcommands, from the argparse parser itself (so the reference never drifts);
- ``<!-- lrkit:constructors -->`` becomes an API entry per schedule constructor of ``lrkit``
  (every registered schedule with a public name), so a new schedule is documented at once;
- ``<!-- lrkit:display SPEC -->`` becomes what a notebook shows for that schedule
  (``Schedule._repr_html_``);
- a relative link from a page to a file of the repository outside ``docs/`` (``../bench/...``,
  ``../tests/...``) works on GitHub as it is; on the site it becomes a link to that file in the
  repository (``repo_url``). A link to a file that does not exist fails the strict build.
"""

from __future__ import annotations

import argparse
import logging
import os
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]
HELP_WIDTH = "80"
"""Terminal width the help text is formatted for (argparse reads COLUMNS)."""

log = logging.getLogger("mkdocs.hooks.lrkit")
_LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?(\))")
_DISPLAY = re.compile(r"<!-- lrkit:display (.+?) -->")


def _lrkit() -> Any:
    """The lrkit of this checkout (``src/``), not one installed elsewhere."""
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    import lrkit

    if Path(lrkit.__file__).resolve().parent != ROOT / "src" / "lrkit":
        raise PluginError(f"the docs need lrkit from {src}; imported {lrkit.__file__}")
    return lrkit


def cli_help() -> list[tuple[str, str]]:
    """``(command, help text)`` for ``lrkit`` and each subcommand, at HELP_WIDTH columns."""
    _lrkit()
    from lrkit.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        parser = build_parser()
        out = [("lrkit", parser.format_help())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                out.extend((f"lrkit {name}", sub.format_help())
                           for name, sub in action.choices.items())
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return out


def _cli_markdown() -> str:
    parts = []
    for command, text in cli_help():
        parts.append(f"## `{command}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def constructors() -> list[tuple[str, str]]:
    """``(public name, path to document)`` of every registered schedule ``lrkit`` exports under
    its spec name, sorted: the class when the name is the class (``cosine = Cosine``), else the
    function of that name."""
    lrkit = _lrkit()
    out = []
    for name, cls in lrkit.registry().items():
        obj = getattr(lrkit, name, None)
        if obj is cls:
            out.append((name, f"lrkit.{cls.__name__}"))
        elif callable(obj):
            out.append((name, f"lrkit.{name}"))
    return sorted(out)


def _constructors_markdown() -> str:
    parts = []
    for name, path in constructors():
        parts.append(
            f"::: {path}\n"
            "    options:\n"
            f'      heading: "lrkit.{name}"\n'
            f'      toc_label: "{name}"\n'
            "      members: false\n"
        )
    return "\n".join(parts)


def _repo_links(markdown: str, page: Any, config: Any) -> str:
    docs = Path(config["docs_dir"]).resolve()
    here = (docs / page.file.src_uri).parent
    repo = str(config.get("repo_url") or "").rstrip("/")

    def fix(m: re.Match[str]) -> str:
        target = m.group(2)
        if "://" in target or target.startswith(("mailto:", "/")):
            return m.group(0)
        path = (here / target).resolve()
        try:
            path.relative_to(docs)
            return m.group(0)  # a page or picture of the site: mkdocs checks it
        except ValueError:
            pass
        try:
            rel = path.relative_to(ROOT)
        except ValueError:
            log.warning("%s: link %r leaves the repository", page.file.src_uri, target)
            return m.group(0)
        if not path.exists():
            log.warning("%s: link %r: %s does not exist", page.file.src_uri, target, rel)
            return m.group(0)
        kind = "tree" if path.is_dir() else "blob"
        url = f"{repo}/{kind}/main/{posixpath.join(*rel.parts)}"
        return f"{m.group(1)}{url}{m.group(3) or ''}{m.group(4)}"

    return _LINK.sub(fix, markdown)


def _display(m: re.Match[str]) -> str:
    lrkit = _lrkit()
    try:
        schedule = lrkit.parse(m.group(1))
    except ValueError as exc:
        raise PluginError(f"lrkit:display: {exc}") from None
    return f'<div class="lrkit-display" markdown="0">{schedule._repr_html_()}</div>'


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- lrkit:cli-help -->" in markdown:
        markdown = markdown.replace("<!-- lrkit:cli-help -->", _cli_markdown())
    if "<!-- lrkit:constructors -->" in markdown:
        markdown = markdown.replace("<!-- lrkit:constructors -->", _constructors_markdown())
    markdown = _DISPLAY.sub(_display, markdown)
    return _repo_links(markdown, page, config)
