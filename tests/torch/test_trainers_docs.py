"""docs/trainers.md is true: its ```python blocks run in order in one namespace (from the
repository root, as a user would run them), ``print(x)  # value`` lines checked against their
comment (tests/test_docs.py's rules); every ```yaml block is one of examples/configs/ verbatim,
and every config there is shown."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from test_docs import FENCE, _run_python

pytest.importorskip("transformers")
pytest.importorskip("lightning")
pytest.importorskip("pytorch_lightning")
pytest.importorskip("accelerate")
pytest.importorskip("hydra")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "trainers.md"
CONFIGS = sorted((ROOT / "examples" / "configs").glob("*.yaml"))


def _blocks(lang: str) -> list[tuple[str, str]]:
    text = PAGE.read_text(encoding="utf-8")
    return [(f"{PAGE.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}", m.group(2))
            for m in FENCE.finditer(text) if m.group(1) == lang]


def test_python_examples_run_and_print_what_the_page_says(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    ns: dict[str, object] = {"__name__": "__doc__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for where, body in _blocks("python"):
            _run_python(body, ns, where)


def test_yaml_blocks_are_the_config_files() -> None:
    shown = {body for _, body in _blocks("yaml")}
    files = {p.name: p.read_text(encoding="utf-8") for p in CONFIGS}
    for where, body in _blocks("yaml"):
        assert body in files.values(), f"{where}: not one of {sorted(files)} verbatim"
    missing = [name for name, text in files.items() if text not in shown]
    assert not missing, f"docs/trainers.md does not show {missing}"


def test_the_page_is_linked() -> None:
    for page in ("index.md", "pytorch.md"):
        text = (ROOT / "docs" / page).read_text(encoding="utf-8")
        assert re.search(r"\]\(trainers\.md(#[^)]*)?\)", text), page
