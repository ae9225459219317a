"""The docs are true: every example of the pages in ``EXECUTED`` runs as a user would run it,
from a fresh directory, blocks in page order in one namespace:

- ```python blocks: ``>>>`` blocks as doctests, the others executed with ``print(x)  # value``
  lines checked against their comment; a warning that points at an example's own line fails it;
- ```bash and ```console blocks: every ``lrkit ...`` command runs (``$ `` prompts in console
  blocks; the output shown under a command must be what it prints, ``...`` matching anything, and
  a shown ``lrkit: error:`` means exit status 2, else 0); ``bash scripts/X.sh`` is only checked
  (the script exists, is executable and parses), ``pip install ...`` names lrkit's real extras;
  any other command is an error until this module learns to check it;
- ```yaml / ```json blocks are spec files (``lrkit.specfile``); a yaml block whose first line is
  ``# NAME.yaml: ...`` is written to NAME.yaml first, so the commands and code after it can use it.

Pages in ``OWN_PROCESS`` run the same way in a fresh interpreter (``python tests/test_docs.py PAGE
DIR``) with extra environment variables: pages that change process-wide state (jax's x64 mode) or
need another Keras backend (TensorFlow). Also here: every page with code is executed by some test,
every relative link resolves, and every expression of the mapping tables (docs/equivalence.md,
docs/migration.md) and of the strategy pages' "X is <expression>" prose is evaluated from the
page's text and compared with the library it claims to equal (tests/_doc_tables.py)."""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import linecache
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# A fenced block, also inside a list item (indented): group 1 the language, group 2 the body.
FENCE = re.compile(r"^[ ]*```(\w*)[ ]*\n(.*?)^[ ]*```[ ]*$", re.M | re.S)
PRINT = re.compile(r"^(\s*)print\((.*)\)\s+#\s?(.*)$")
# Adding a page is one line here; a page that needs its own process goes in OWN_PROCESS too.
EXECUTED = sorted(
    [*DOCS.glob("strategies/*.md"), DOCS / "concepts.md", DOCS / "seed-errata.md",
     DOCS / "index.md", DOCS / "recipes.md", ROOT / "README.md", DOCS / "pytorch.md",
     DOCS / "jax-optax.md", DOCS / "cli.md", DOCS / "keras.md", DOCS / "range-test.md",
     DOCS / "timm.md", DOCS / "plan-changes.md", DOCS / "losscurve.md"]
)
# Pages run in a fresh interpreter, with these environment variables. jax-optax.md switches on
# jax's x64 mode, which would leak into every later test of this process. A page that needs
# TensorFlow's Keras: DOCS / "tensorflow.md": {"KERAS_BACKEND": "tensorflow"}.
OWN_PROCESS: dict[Path, dict[str, str]] = {DOCS / "jax-optax.md": {}}
# Pages whose examples other test files run (in the process their frameworks need).
EXECUTED_ELSEWHERE = {
    DOCS / "trainers.md": ROOT / "tests" / "torch" / "test_trainers_docs.py",
    DOCS / "tensorflow.md": ROOT / "tests" / "tf" / "test_docs_tensorflow.py",
}
# Pages with examples that no test runs (none: every page with code is executed).
NOT_YET_EXECUTED: set[Path] = set()
ALL_PAGES = sorted([*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "bench" / "README.md"])


def _where(page: Path) -> str:
    return str(page.relative_to(ROOT))


def blocks(page: Path) -> Iterator[tuple[str, str, str]]:
    """``(language, dedented body, "page:line")`` of every fenced block, in page order."""
    text = page.read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        line = text[: m.start()].count("\n") + 1
        yield m.group(1), textwrap.dedent(m.group(2)), f"{_where(page)}:{line}"


def _check_print(expr: str, expected: str, *values: object) -> None:
    """The comment is the printed text, alone or followed by a space or ": " and prose."""
    got = " ".join(str(v) for v in values).strip()
    want = expected.strip()
    if not (want == got or (want.startswith(got) and want[len(got):].startswith((" ", ": ")))):
        raise AssertionError(f"print({expr}) gave {got!r}; the doc says {want!r}")


def _run_python(body: str, ns: dict[str, object], where: str) -> None:
    body = textwrap.dedent(body)
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
    source = "\n".join(lines) + "\n"
    # Its lines for tracebacks and inspect.getsource (TensorFlow's AutoGraph reads a function's
    # source to convert it), as if the block were a file.
    linecache.cache[where] = (len(source), None, source.splitlines(True), where)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(source, where, "exec"), ns)


def _commands(lang: str, body: str, where: str) -> Iterator[tuple[str, str | None]]:
    """``(command, the output shown under it or None)``: console blocks have ``$ `` prompts
    and output, bash blocks one command a line (``#`` comments)."""
    if lang != "console":
        for line in body.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                yield line.strip(), None
        return
    command: str | None = None
    shown: list[str] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, "\n".join(shown)
            command, shown = line[2:], []
        elif command is None:
            raise AssertionError(f"{where}: output before the first '$ ' command: {line!r}")
        else:
            shown.append(line)
    if command is not None:
        yield command, "\n".join(shown)


def _run_lrkit(command: str, shown: str | None, where: str, workdir: Path) -> None:
    """Runs ``command`` with bash in ``workdir``, ``lrkit`` being this interpreter's module (so
    quoting, ``--`` and ``> file`` work as in a terminal)."""
    script = 'lrkit() { "$LRKIT_PYTHON" -m lrkit "$@"; }\n' + command
    env = {**os.environ, "LRKIT_PYTHON": sys.executable}
    proc = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    error = bool(shown) and shown.startswith("lrkit: error:")
    want_rc = 2 if error else 0
    assert proc.returncode == want_rc, (
        f"{where}: `{command}` exited {proc.returncode}, the page implies {want_rc}\n{proc.stdout}"
    )
    if shown:
        checker = doctest.OutputChecker()
        assert checker.check_output(shown + "\n", proc.stdout, doctest.ELLIPSIS), (
            f"{where}: `{command}` printed\n{proc.stdout}\nthe page shows\n{shown}"
        )


def _extras() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return set(project["optional-dependencies"])


def _check_command(command: str, shown: str | None, where: str, workdir: Path) -> None:
    words = shlex.split(command, comments=True)
    if words[0] == "lrkit":
        _run_lrkit(command, shown, where, workdir)
    elif words[0] == "bash" and len(words) == 2 and words[1].startswith("scripts/"):
        script = ROOT / words[1]  # not run here: it sets up .venv, trains, runs the suite
        assert script.is_file() and os.access(script, os.R_OK | os.X_OK), f"{where}: {script}"
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{where}: {words[1]} does not parse: {syntax.stderr}"
    elif words[:2] == ["pip", "install"]:
        from packaging.requirements import Requirement

        extras = set()
        for arg in words[2:]:
            req = Requirement(arg)
            assert req.name == "lrkit", f"{where}: installs {req.name!r}, not lrkit"
            extras |= req.extras
        comment = re.search(r"\(also: ([\w, -]+)\)", command)
        extras |= {e.strip() for e in comment.group(1).split(",")} if comment else set()
        missing = extras - _extras()
        assert not missing, f"{where}: extras {sorted(missing)} are not in pyproject.toml"
    else:
        raise AssertionError(f"{where}: no rule to check the command {command!r}")


def _check_spec_file(lang: str, body: str, where: str, workdir: Path) -> None:
    from lrkit.specfile import load_schedule, schedule_from_data

    name = re.match(r"#\s*([\w.-]+\.ya?ml)\b", body) if lang == "yaml" else None
    if name:
        path = workdir / name.group(1)
        path.write_text(body, encoding="utf-8")
        load_schedule(f"@{path}")
    elif lang == "json":
        schedule_from_data(json.loads(body), where)
    else:
        import yaml

        schedule_from_data(yaml.safe_load(body), where)


def run_page(page: Path, workdir: Path) -> int:
    """Runs every example of ``page`` with ``workdir`` as the current directory; returns how
    many blocks it ran (or checked)."""
    ns: dict[str, object] = {"__name__": "__doc__"}
    ran = 0
    here = Path.cwd()
    os.chdir(workdir)
    try:
        for lang, body, where in blocks(page):
            if lang == "python":
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    _run_python(body, ns, where)
                own = [w for w in caught if _where(page) in str(w.filename)]
                assert not own, f"{where}: the example warns: " + "; ".join(
                    f"{w.filename}: {w.category.__name__}: {w.message}" for w in own)
            elif lang in ("bash", "sh", "console"):
                for command, shown in _commands(lang, body, where):
                    _check_command(command, shown, where, workdir)
            elif lang in ("yaml", "json"):
                _check_spec_file(lang, body, where, workdir)
            else:
                continue
            ran += 1
    finally:
        os.chdir(here)
    return ran


@pytest.mark.parametrize("page", EXECUTED, ids=lambda p: _where(p))
def test_examples_run_and_print_what_the_page_says(page: Path, tmp_path: Path) -> None:
    if page not in OWN_PROCESS:
        assert run_page(page, tmp_path) > 0, f"{_where(page)} has no example to run"
        return
    env = {**os.environ, **OWN_PROCESS[page]}
    proc = subprocess.run([sys.executable, __file__, str(page), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert int(proc.stdout.split()[-1]) > 0, f"{_where(page)} has no example to run"


def test_every_page_with_examples_is_executed() -> None:
    """A new page with code (or one whose owner forgot) is not left unrun."""
    with_code = {p for p in ALL_PAGES
                 if any(lang in ("python", "bash", "sh", "console") for lang, _, _ in blocks(p))}
    known = set(EXECUTED) | set(EXECUTED_ELSEWHERE) | NOT_YET_EXECUTED
    assert not with_code - known, f"pages whose examples no test runs: {sorted(with_code - known)}"
    for page, test in EXECUTED_ELSEWHERE.items():
        assert not page.exists() or test.exists(), f"{_where(page)}: {test} is missing"


def test_readme_demo_excerpt_is_what_the_demo_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """README.md shows the demo's schedule, optimizer and scheduler: examples/demo.py builds
    exactly these with its default arguments (stopped right after building them)."""
    pytest.importorskip("torch")
    import importlib.util

    import lrkit as lk

    spec = importlib.util.spec_from_file_location("demo", ROOT / "examples" / "demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    built: dict[str, Any] = {}

    class Built(Exception):
        pass

    def record(optimizer: Any, schedule: Any) -> None:
        built.update(optimizer=optimizer, schedule=schedule)
        raise Built

    monkeypatch.setattr(demo, "LRScheduler", record)
    monkeypatch.setattr(demo, "load_text", lambda: "a small text to stand in for the docs. " * 80)
    threads = demo.torch.get_num_threads()
    try:
        with pytest.raises(Built):
            demo.main([])
    finally:
        demo.torch.set_num_threads(threads)  # the demo sets 1 for the whole process
    readme = [body for lang, body, _ in blocks(ROOT / "README.md") if lang == "python"][1]
    assert "scheduler = LRScheduler(optimizer, schedule)" in readme
    want = re.search(r"^schedule = (.*)$", readme, re.M)
    assert want is not None
    assert built["schedule"] == eval(want.group(1), {"lk": lk})  # the page's own expression
    lr = re.search(r"torch\.optim\.Adam\(model\.parameters\(\), lr=([\d.e-]+)\)", readme)
    assert lr is not None
    assert type(built["optimizer"]).__name__ == "Adam"
    assert built["optimizer"].param_groups[0]["lr"] == float(lr.group(1))


def _agrees(value: float, shown: str) -> bool:
    """``value`` rounded to as many significant digits as ``shown`` has is ``shown``."""
    digits = len(shown.split("e")[0].replace(".", "").lstrip("0")) or 1
    return float(f"{value:.{digits}g}") == float(shown)


def test_gradual_warmup_table_is_both_libraries() -> None:
    """docs/pytorch.md's table of the seed's example: the original column is warmup_scheduler
    0.3 itself; the lrkit column is the warmup ``b * (1 + (m - 1) * k / T)`` and then a fresh
    CosineAnnealingLR started at the peak ``m * b`` (torch's own), and lrkit's drop-in gives it."""
    torch = pytest.importorskip("torch")
    original = pytest.importorskip("warmup_scheduler")
    from torch.optim.lr_scheduler import CosineAnnealingLR

    from lrkit.torch import GradualWarmupScheduler

    def rates(cls: Any, base: float, epochs: int, warm: bool = True) -> list[float]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
        after = CosineAnnealingLR(opt, T_max=10, eta_min=1e-6)
        sched = cls(opt, multiplier=10, total_epoch=5, after_scheduler=after) if warm else after
        out = []
        for _ in range(epochs):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = rates(original.GradualWarmupScheduler, 0.01, 18)
        ours = rates(GradualWarmupScheduler, 0.01, 18)
        fresh = rates(None, 0.1, 12, warm=False)
    reference = [0.01 * (1 + 9 * k / 5) for k in range(6)] + fresh
    text = (DOCS / "pytorch.md").read_text(encoding="utf-8")
    table = text[text.index("| epoch | original `warmup_scheduler` 0.3 | lrkit |"):]
    number = re.compile(r"\d[\d.]*(?:e-?\d+)?")
    checked = 0
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        epoch, orig, lrkit = (c.strip() for c in line.strip("|").split("|"))
        k = int(epoch)
        o, n = number.search(orig), number.search(lrkit)
        assert o and n, line
        assert _agrees(theirs[k], o.group()), f"epoch {k}: warmup_scheduler gives {theirs[k]}"
        assert _agrees(reference[k], n.group()), f"epoch {k}: the reference is {reference[k]}"
        assert _agrees(ours[k], n.group()), f"epoch {k}: lrkit gives {ours[k]}"
        checked += 1
    assert checked == 10


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


if __name__ == "__main__":  # python tests/test_docs.py PAGE DIR: one page, in this process
    print(run_page(Path(sys.argv[1]).resolve(), Path(sys.argv[2])))
