"""Fuzzing the ``lrkit`` command in-process: every argument list ends with exit status 0, or 2
and one ``lrkit: error:`` message (a spec error adds the spec and a caret), with bounded output;
never another exception, never an abort (plotext's C++ errors kill the process: exit 134)."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest
from _schedules import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from lrkit.cli import MAX_TABLE_ROWS, main

pytest.importorskip("plotext")
pytest.importorskip("matplotlib")

MAX_OUTPUT = 2_000_000
"""Characters a command may print: a table of MAX_TABLE_ROWS rows is far above the fuzzed ones;
the point is that nothing writes without end."""

SPECS = [
    "cosine(steps=100)", "warmup(cosine(steps=9000), steps=1000)", "exponential(2.0)",
    "exponential(2.0, end=1e30) * cosine(steps=100)", "cosine(step=1000)", "cosine(steps=-5)",
    "warmup(cosine(steps=100), steps=1e-16, shape='log')", "staircase(cosine(100), 1e-300)",
    "wsd(1e308, 1e308, 10)", "constant(3e38)", "constant(1e39)", "plateau()", "os.cosine(steps=3)",
    "cyclic(0, 1, 1e-300)", "shift(cosine_restarts(1, period_mult=2), 1e308)", "", "((", "@",
    "@/nonexistent.yaml", "cosine(steps=1e308)", "one_cycle(1e308)", "constant(0)",
]
NUMBERS = ["1", "2", "10", "0", "-1", "1e30", "1e300", "1e999", "nan", "inf", "2.5", "x", "",
           "10000000", "9007199254740993", "1_000", "3e38"]
OPTIONS = ["--steps", "--base-lr", "--every", "--rows", "--dpi", "--width", "--height",
           "--size", "--format", "--log", "--title", "-o", "--json", "-v", "--verbose"]


@st.composite
def argv(draw: Any) -> list[str]:
    command = draw(st.sampled_from(["plot", "table", "show", "list", "nope", "--version", ""]))
    args = [command] if command else []
    if command in ("plot", "table", "show"):
        args += draw(st.lists(st.sampled_from(SPECS), min_size=0, max_size=2))
    for _ in range(draw(st.integers(0, 5))):
        opt = draw(st.sampled_from(OPTIONS))
        args.append(opt)
        if opt in ("--log", "--json", "-v", "--verbose"):
            continue
        if opt == "--format":
            args.append(draw(st.sampled_from(["text", "csv", "markdown", "pdf"])))
        elif opt == "--size":
            args.append(draw(st.sampled_from(["800x450", "10x10", "1e9x5", "x", "100x100"])))
        elif opt == "-o":
            args.append(draw(st.sampled_from(["OUT.png", "OUT.svg", "OUT.pdf", "/no/dir/a.png"])))
        elif opt == "--title":
            args.append(draw(st.text(max_size=20)))
        else:
            args.append(draw(st.sampled_from(NUMBERS)))
    return args


def _run(args: list[str], tmp: Any) -> tuple[int, str, str]:
    args = [str(tmp / a[4:]) if a.startswith("OUT.") else a for a in args]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=examples(60), deadline=None)
@given(argv())
def test_cli_exits_0_or_2_with_bounded_output(tmp_path_factory: Any, args: list[str]) -> None:
    tmp = tmp_path_factory.mktemp("cli")
    code, out, err = _run(args, tmp)
    assert code in (0, 2), (args, code, err)
    assert len(out) + len(err) <= MAX_OUTPUT, (args, len(out))
    if code == 2:
        assert err.startswith("lrkit: error:"), (args, err)
        assert "Traceback" not in err and "unexpected" not in err, (args, err)
        lines = err.rstrip("\n").split("\n")
        # one line, or a spec error's three: the message, the spec, the caret
        assert len(lines) == 1 or (len(lines) == 3 and lines[2].strip() == "^"), (args, err)
    if code == 0 and args and args[0] == "table":
        assert "nan" not in out and "inf" not in out, (args, out[:200])


@pytest.mark.parametrize(("args", "reason"), [
    (["table", "cosine(steps=10)", "--steps", "1e30"], "expected an integer from 1 to"),
    (["table", "cosine(steps=10)", "--steps", str(10 * MAX_TABLE_ROWS)], "use --every 10"),
    (["plot", "cosine(steps=10)", "--steps", "10", "--rows", "10000000"],
     "expected an integer from 1 to 200 lines"),
    (["plot", "cosine(steps=10)", "--steps", "10", "--dpi", "100000"], "from 1 to 1,000"),
    (["table", "exponential(2.0) * cosine(steps=100)", "--steps", "10"], "end must be a ceiling"),
    (["table", "constant(3e38)", "--steps", "3", "--base-lr", "1e300"], "overflows"),
    (["plot", "constant(3e38)", "--steps", "3", "--base-lr", "1e300"], "overflows"),
    (["table", "warmup(cosine(steps=100), steps=1e-16, shape='log')", "--steps", "3"], None),
    (["table", "cosine(step=1000)", "--steps", "3"], "cosine has no parameter 'step'"),
])
def test_cli_refusals(args: list[str], reason: str | None, tmp_path: Any) -> None:
    code, out, err = _run(args, tmp_path)
    if reason is None:
        assert code == 0 and "nan" not in out, err
        return
    assert code == 2, (out[:200], err)
    assert reason in err, err
    assert len(out) < 1000


def test_carets_sit_under_the_offending_token(tmp_path: Any) -> None:
    for spec, column in (("cosine(step=1000)", 8), ("cosine(steps=-5)", 14)):
        code, _, err = _run(["show", spec], tmp_path)
        assert code == 2
        lines = err.rstrip("\n").split("\n")
        assert lines[1].strip() == spec
        indent = len(lines[1]) - len(lines[1].lstrip())
        assert lines[2].index("^") - indent == column - 1, err


def test_terminal_chart_never_aborts_on_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    """plotext kills the process on NaN (exit 134): the chart refuses it first."""
    from lrkit import plot

    c = plot.Curve(label="x", steps=3, xs=(0, 1, 2), values=(1.0, float("nan"), 0.5),
                   breakpoints=())
    with pytest.raises(ValueError, match="the rate at step 1 is nan"):
        plot.terminal_chart([c])
    with pytest.raises(ValueError, match="the rate at step 1 is nan"):
        plot.plot_schedules([c], "x.png")
    assert sys.stdout is not None
