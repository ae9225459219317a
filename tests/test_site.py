"""The documentation site: ``bash scripts/docs.sh`` builds it (strict), with a page for every
file of docs/, a picture on every strategy page, the API reference and the CLI's help as the
command prints it; a broken link, a page left out of the nav or a docstring warning fails it."""

from __future__ import annotations

import html
import importlib.util
import logging
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import lrkit as lk

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

try:
    import mkdocs  # noqa: F401
    import yaml
except ImportError as exc:  # the test command builds the site: the docs tools must be there
    raise ImportError(
        "tests/test_site.py needs the docs tools: pip install --group docs (see pyproject.toml)"
    ) from exc


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DOCS_PYTHON": sys.executable, **env})


def _page(site: Path, md: Path) -> Path:
    rel = md.relative_to(DOCS).with_suffix("")
    return site / "index.html" if rel.name == "index" and rel.parent == Path(".") else (
        site / rel.parent / "index.html" if rel.name == "index" else site / rel / "index.html")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _ids(page: Path) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', _text(page)))


def test_the_site_builds_with_every_page_its_pictures_and_the_api(built_site: Path) -> None:
    site = built_site  # scripts/docs.sh --site-dir, built once for this and the playground test
    assert (site / "search" / "search_index.json").is_file()

    # every page of docs/ is built
    pages = sorted(DOCS.rglob("*.md"))
    missing = [str(p.relative_to(DOCS)) for p in pages if not _page(site, p).is_file()]
    assert not missing, f"pages missing from the site: {missing}"

    # every strategy page shows a picture that is in the site
    for md in sorted((DOCS / "strategies").glob("*.md")):
        page = _page(site, md)
        images = re.findall(r'<img [^>]*src="([^"]+)"', _text(page))
        assert images, f"{md.name}: no picture"
        for src in images:
            assert (page.parent / src).resolve().is_file(), f"{md.name}: {src} is missing"

    # the API reference: the public names, documented
    api = site / "api"
    core = _ids(api / "lrkit" / "index.html")
    constructors = [n for n in lk.registry() if callable(getattr(lk, n, None))]
    assert len(constructors) >= 18
    for name in constructors:
        documented = {f"lrkit.{name}", f"lrkit.{lk.registry()[name].__name__}"}
        assert documented & core, f"lk.{name} is not in the API reference"
    for name in ("Schedule", "Schedule.__call__", "Schedule.to_dict", "parse", "from_dict",
                 "format_spec", "Stepper", "Stepper.state_dict", "Stepper.load_state_dict",
                 "SpecError", "registry", "display.schedule_html"):
        assert f"lrkit.{name}" in core, name
    torch_ids = _ids(api / "torch" / "index.html")
    for name in ("LRScheduler", "LRScheduler.step", "LRScheduler.state_dict",
                 "LRScheduler.load_state_dict", "GradualWarmupScheduler",
                 "GradualWarmupScheduler.load_state_dict", "LARS", "find_lr"):
        assert f"lrkit.torch.{name}" in torch_ids, name
    assert "lrkit.keras.KerasSchedule" in _ids(api / "keras" / "index.html")
    assert "lrkit.keras.ScheduleCallback" in _ids(api / "keras" / "index.html")
    assert "lrkit.optax.plateau_scale" in _ids(api / "optax" / "index.html")
    tf_keras_ids = _ids(api / "tf_keras" / "index.html")
    assert {"lrkit.tf_keras.KerasSchedule", "lrkit.tf_keras.ScheduleCallback"} <= tf_keras_ids
    text = _text(api / "torch" / "index.html")
    assert "Restore a <code>state_dict()</code>" in text  # load_state_dict's docstring

    # docstrings render as meant: no reST roles left, no formula turned into bold or italics
    for page in api.rglob("index.html"):
        body = _text(page)
        assert not re.search(r":(class|func|meth|mod):", body), page
        for block in re.findall(r'<div class="doc doc-contents[^"]*">(.*?)</div>', body, re.S):
            assert "<strong>" not in block and "<em>" not in block, (page, block[:300])

    # the CLI reference holds the help of every command, as the command prints it
    cli = html.unescape(re.sub(r"<[^>]+>", "", _text(api / "cli" / "index.html")))
    for command in ([], ["plot"], ["table"], ["show"], ["list"]):
        out = subprocess.run([sys.executable, "-m", "lrkit", *command, "--help"],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "COLUMNS": "80"}).stdout
        assert out.strip() in cli, f"lrkit {' '.join(command)} --help differs from the site"

    # the notebook display, as a notebook shows it, on the Concepts page
    concepts = _text(site / "concepts" / "index.html")
    assert '<polyline class="curve"' in concepts and 'class="lrkit-schedule"' in concepts

    # links to repository files outside docs/ point at the repository
    assert "https://github.com/lrkit/lrkit/blob/main/bench/results/rangetest.md" in _text(
        site / "range-test" / "index.html")


def _config(tmp: Path, pages: dict[str, str], module: str | None = None) -> Path:
    """mkdocs.yml with its settings, on a docs folder of ``pages`` (and a module to document)."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = tmp / "docs"
    docs.mkdir(parents=True)
    for name, text in pages.items():
        (docs / name).write_text(text, encoding="utf-8")
    config.update(docs_dir=str(docs), site_dir=str(tmp / "site"), nav=["index.md"],
                  hooks=[str(ROOT / h) for h in config["hooks"]])
    if module is not None:
        (tmp / "pkg").mkdir()
        (tmp / "pkg" / "mod.py").write_text(module, encoding="utf-8")
        for plugin in config["plugins"]:
            if isinstance(plugin, dict) and "mkdocstrings" in plugin:
                python = plugin["mkdocstrings"]["handlers"]["python"]
                python["paths"] = [str(tmp / "pkg")]
    path = tmp / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _build(config: Path) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "mkdocs", "build", "-f", str(config)],
                NO_MKDOCS_2_WARNING="1")


STRICT_FAILURES = [
    ("a broken link", {"index.md": "# x\n\n[gone](gone.md)\n"}, None, "gone.md"),
    ("a page left out of the nav", {"index.md": "# x\n", "other.md": "# y\n"}, None,
     "other.md"),
    ("a docstring griffe cannot read", {"index.md": "# x\n\n::: mod.f\n"},
     'def f(x: int) -> int:\n    """Doc.\n\n    Args:\n        y: no such parameter.\n    """\n'
     "    return x\n", "'y' does not appear"),
]


@pytest.mark.parametrize(("case", "pages", "module", "says"),
                         [pytest.param(*c, id=c[0]) for c in STRICT_FAILURES])
def test_the_strict_build_fails_on(case: str, pages: dict[str, str], module: str | None,
                                   says: str, tmp_path: Path) -> None:
    proc = _build(_config(tmp_path, pages, module))
    assert proc.returncode != 0, f"{case}: the build passed"
    assert says in proc.stderr and "strict" in proc.stderr, proc.stderr


def test_the_same_config_builds_a_good_page(tmp_path: Path) -> None:
    module = 'def f(x: int) -> int:\n    """Doc.\n\n    Args:\n        x: a number.\n    """\n'
    proc = _build(_config(tmp_path, {"index.md": "# x\n\n[me](index.md)\n\n::: mod.f\n"},
                          module + "    return x\n"))
    assert proc.returncode == 0, proc.stderr


def _hooks() -> Any:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts/docs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_links_out_of_docs_go_to_the_repository_and_must_exist(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks = _hooks()
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="range-test.md"))
    config = {"docs_dir": str(DOCS), "repo_url": "https://github.com/lrkit/lrkit"}
    text = ("[a](../bench/results/rangetest.md#top) [b](../tests/catalogue) [c](cli.md) "
            "[d](https://example.org/x.md) [e](../bench/results/nothing.md)")
    with caplog.at_level(logging.WARNING, logger="mkdocs.hooks.lrkit"):
        out = hooks._repo_links(text, page, config)
    assert out == (
        "[a](https://github.com/lrkit/lrkit/blob/main/bench/results/rangetest.md#top) "
        "[b](https://github.com/lrkit/lrkit/tree/main/tests/catalogue) [c](cli.md) "
        "[d](https://example.org/x.md) [e](../bench/results/nothing.md)"
    )
    assert [r.getMessage() for r in caplog.records] == [
        "range-test.md: link '../bench/results/nothing.md': bench/results/nothing.md does not "
        "exist"
    ]


def test_the_cli_help_covers_every_subcommand() -> None:
    commands = [c for c, _ in _hooks().cli_help()]
    assert commands == ["lrkit", "lrkit plot", "lrkit table", "lrkit show", "lrkit list",
                        "lrkit predict"]
