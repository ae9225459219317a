"""The numbers in the docs are true: every ```python block of the strategy pages (and of the
concepts, errata, index and recipe pages) runs, ``>>>`` blocks as doctests and
``print(x)  # value`` lines checked against their comment; every ``lrkit ...`` command in a
```bash block exits 0; every relative link resolves; and every expression of the mapping tables
(docs/equivalence.md, docs/migration.md) and of the strategy pages' "X is <expression>" prose is
evaluated from the page's text and compared with the library it claims to equal
(tests/_doc_tables.py)."""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
PRINT = re.compile(r"^(\s*)print\((.*)\)\s+#\s?(.*)$")
EXECUTED = sorted(
    [*DOCS.glob("strategies/*.md"), DOCS / "concepts.md", DOCS / "seed-errata.md",
     DOCS / "index.md", DOCS / "recipes.md"]
)
ALL_PAGES = sorted([*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "bench" / "README.md"])


def _check_print(expr: str, expected: str, *values: object) -> None:
    got = " ".join(str(v) for v in values).strip()
    want = expected.strip()
    if not (want == got or (want.startswith(got) and want[len(got)] == " ")):
        raise AssertionError(f"print({expr}) gave {got!r}; the doc says {want!r}")


def _run_python(body: str, ns: dict[str, object], where: str) -> None:
    if ">>>" in body:
        test = doctest.DocTestParser().get_doctest(body, ns, where, where, 0)
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        out = io.StringIO()
        result = runner.run(test, out=out.write, clear_globs=False)
        ns.update(test.globs)
        assert not result.failed, out.getvalue()
        return
    lines = []
    for line in body.splitlines():
        m = PRINT.match(line)
        if m:
            indent, expr, expected = m.groups()
            line = f"{indent}__check({expr!r}, {expected!r}, {expr})"
        lines.append(line)
    ns["__check"] = _check_print
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile("\n".join(lines), where, "exec"), ns)


@pytest.mark.parametrize("page", EXECUTED, ids=lambda p: str(p.relative_to(DOCS)))
def test_examples_run_and_print_what_the_page_says(page: Path, tmp_path: Path) -> None:
    text = page.read_text(encoding="utf-8")
    ns: dict[str, object] = {"__name__": "__doc__"}
    for m in FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        where = f"{page.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
        if lang == "python":
            _run_python(body, ns, where)
        elif lang in ("bash", "sh", "console"):
            for line in body.splitlines():
                cmd = line.strip().split("  #")[0]
                if not cmd.startswith("lrkit "):
                    continue
                cmd = re.sub(r"-o \S+", f"-o {tmp_path / 'out.png'}", cmd)
                if cmd.split()[1] == "plot" and " -o " not in cmd:
                    cmd += f" -o {tmp_path / 'out.png'}"
                args = [sys.executable, "-m", "lrkit", *_split(cmd)[1:]]
                proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
                assert proc.returncode == 0, f"{where}: {cmd}\n{proc.stderr}"


def _split(cmd: str) -> list[str]:
    import shlex

    return shlex.split(cmd)


@pytest.mark.parametrize("page", ALL_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    if not page.exists():
        pytest.fail(f"{page} is missing")
    text = page.read_text(encoding="utf-8")
    missing = []
    for m in re.finditer(r"\]\(([^)#\s]+)(#[^)]*)?\)", text):
        target = m.group(1)
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        if not (page.parent / target).exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


# --- the mapping tables and the strategy pages' "is <expression>" prose --------------------

from _doc_tables import CHECKS, STRATEGY_CLAIMS, claim_text_present  # noqa: E402
from _doc_tables import rows as table_rows  # noqa: E402

TABLE_ROWS = [row for page in ("equivalence.md", "migration.md") for row in table_rows(page)]


def test_every_table_row_has_a_check() -> None:
    """A new or reworded row needs its check in tests/_doc_tables.py (keyed by its first
    cell); a check whose row is gone is stale."""
    keys = {(r.page, r.key) for r in TABLE_ROWS}
    missing = sorted(keys - set(CHECKS))
    stale = sorted(set(CHECKS) - keys)
    assert not missing and not stale, f"rows without a check: {missing}; stale checks: {stale}"


@pytest.mark.parametrize("row", TABLE_ROWS, ids=lambda r: f"{r.page}:{r.key[:60]}")
def test_table_expression_equals_the_library(row: Any) -> None:
    CHECKS[(row.page, row.key)](row)


@pytest.mark.parametrize("claim", STRATEGY_CLAIMS, ids=lambda c: f"{c.page}:{c.snippets[0][:40]}")
def test_strategy_page_expression_equals_the_library(claim: Any) -> None:
    missing = claim_text_present(claim)
    assert not missing, f"docs/strategies/{claim.page} no longer says {missing}"
    claim.check(*(" ".join(s.split()) for s in claim.snippets))
