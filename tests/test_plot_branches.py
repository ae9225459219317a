"""``lrkit plot`` with branches: a trunk and cooldowns (or splices) branched off it, checked
through the drawn data of the figure (matplotlib's Line2D) against the formulas written out here,
and the CLI's one-line errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import lrkit as lk
from lrkit import cli, plot

pytest.importorskip("matplotlib")

TRUNK = "warmup(constant(), steps=300, start=0.01)"


def trunk_ref(t: float) -> float:
    """epfml/schedules-and-scaling's warmup: t / 300 + (1 - t / 300) / 100, then 1."""
    return t / 300 + (1 - t / 300) / 100 if t < 300 else 1.0


def cooldown_ref(base: Any, at: float, n: float, shape: str = "1-sqrt", end: float = 0.0) -> Any:
    """base(t) before at; end + (base(at) - end) * g((t - at) / n) over n steps; end after."""
    g = {"1-sqrt": lambda x: 1 - math.sqrt(x), "linear": lambda x: 1 - x,
         "cosine": lambda x: (1 + math.cos(math.pi * x)) / 2,
         "exp": lambda x: (0.5 ** x - 0.5) / 0.5}[shape]

    def f(t: float) -> float:
        if t < at:
            return float(base(t))
        if t < at + n:
            return end + (base(at) - end) * g((t - at) / n)
        return end

    return f


def drawn(fig: Any) -> list[tuple[str, list[float], list[float], Any]]:
    """(label, xs, ys, colour) of every labelled line of the chart."""
    ax = fig.axes[0]
    return [(ln.get_label(), list(map(float, ln.get_xdata())), list(map(float, ln.get_ydata())),
             ln.get_color()) for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def dots(fig: Any) -> list[tuple[float, float]]:
    ax = fig.axes[0]
    return [(float(ln.get_xdata()[0]), float(ln.get_ydata()[0])) for ln in ax.get_lines()
            if ln.get_label().startswith("_") and ln.get_marker() == "o"]


def check_line(xs: list[float], ys: list[float], ref: Any, first: int, steps: int,
               scale: float = 1.0) -> None:
    """Drawn as steps from ``first`` to ``steps``: ys[i] is ref(xs[i]), the last point repeats."""
    assert xs == [*map(float, range(first, steps)), float(steps)]
    for x, y in zip(xs[:-1], ys[:-1], strict=True):
        assert y == pytest.approx(scale * ref(x), rel=1e-12, abs=1e-300), x
    assert ys[-1] == ys[-2]


def test_branches_with_a_share_of_the_run_are_hagele_cooldowns(tmp_path: Path) -> None:
    """20% of each branched run: at = 4000, 8000, 12000 cool down over 1000, 2000, 3000 steps
    (epfml's wsd_schedule with n_iterations 5000, 10000, 15000, fract_decay=0.2, sqrt)."""
    trunk = lk.parse(TRUNK)
    curves = plot.branch_curves([trunk], 15_000, 1e-3, branches=[4000, 8000, 12000],
                                fraction=0.2)
    fig = plot.plot_schedules(curves, str(tmp_path / "b.png"))
    lines = drawn(fig)
    assert [label for label, *_ in lines] == [
        TRUNK, "cooldown at 4000: 1000 steps, 1-sqrt", "cooldown at 8000: 2000 steps, 1-sqrt",
        "cooldown at 12000: 3000 steps, 1-sqrt"]
    _, xs, ys, colour = lines[0]
    check_line(xs, ys, trunk_ref, 0, 15_000, 1e-3)
    assert colour == "0.55"  # the trunk in grey
    for (_, xs, ys, colour), total in zip(lines[1:], (5000, 10_000, 15_000), strict=True):
        n = int(0.2 * total)
        check_line(xs, ys, cooldown_ref(trunk_ref, total - n, n), total - n, 15_000, 1e-3)
        assert colour != "0.55"
    assert len({c for *_, c in lines}) == 4
    assert dots(fig) == [(4000.0, 1e-3), (8000.0, 1e-3), (12000.0, 1e-3)]


@pytest.mark.parametrize("shape", ["linear", "cosine", "exp", "1-sqrt"])
def test_branch_from_the_middle_of_a_cosine_in_steps(tmp_path: Path, shape: str) -> None:
    base = lk.parse("cosine(steps=1000)")

    def cos_ref(t: float) -> float:
        return (1 + math.cos(math.pi * min(t, 1000) / 1000)) / 2

    curves = plot.branch_curves([base], 1000, branches=[450], cooldown=120, shape=shape,
                                end=0.05)
    fig = plot.plot_schedules(curves, str(tmp_path / "c.svg"))
    (_, xs, ys, _), (label, bxs, bys, _) = drawn(fig)
    check_line(xs, ys, cos_ref, 0, 1000)
    check_line(bxs, bys, cooldown_ref(cos_ref, 450, 120, shape, 0.05), 450, 1000)
    assert label == f"cooldown at 450: 120 steps, {shape} to 0.05"


def test_later_specs_that_branch_off_the_first_are_drawn_from_their_branch_point(
        tmp_path: Path) -> None:
    wsd = "wsd(warmup=100, stable=600, decay=300)"

    def wsd_ref(t: float) -> float:
        if t < 100:
            return t / 100
        return 1.0 if t < 700 else max(0.0, 1 - (t - 700) / 300)

    def cos_ref(t: float) -> float:
        return (1 + math.cos(math.pi * min(t, 1200) / 1200)) / 2

    def splice_ref(t: float) -> float:  # old before 500, a line to new(550), new after
        if t < 500:
            return wsd_ref(t)
        if t < 550:
            return wsd_ref(500) + (cos_ref(550) - wsd_ref(500)) * (t - 500) / 50
        return cos_ref(t)

    specs = [wsd, f"cooldown({wsd}, at=299.5, steps=100)",
             f"splice({wsd}, cosine(steps=1200), at=500, ramp=50)", "cosine(steps=1000)"]
    curves = plot.branch_curves([lk.parse(s) for s in specs], 1200)
    fig = plot.plot_schedules(curves, str(tmp_path / "s.png"))
    lines = drawn(fig)
    assert [ln[0] for ln in lines] == [
        wsd, "cooldown at 299.5: 100 steps, 1-sqrt", "splice at 500: cosine(steps=1200), ramp 50",
        "cosine(steps=1000)"]
    check_line(lines[1][1], lines[1][2], cooldown_ref(wsd_ref, 299.5, 100), 299, 1200)
    check_line(lines[2][1], lines[2][2], splice_ref, 500, 1200)
    check_line(lines[3][1], lines[3][2],
               lambda t: (1 + math.cos(math.pi * min(t, 1000) / 1000)) / 2, 0, 1200)
    assert [c.role for c in curves] == ["trunk", "branch", "branch", "plan"]
    # the trunk keeps its phase boundaries (dashed); the branches add none
    assert curves[0].breakpoints == (100.0, 700.0, 1000.0)
    assert curves[1].breakpoints == curves[2].breakpoints == ()


def test_without_branches_nothing_changes() -> None:
    specs = [lk.parse("cosine(steps=100)"), lk.parse("step_decay(30)")]
    assert plot.branch_curves(specs, 100) == [plot.curve(s, 100) for s in specs]
    # a cooldown of another plan is no branch of the first
    other = [specs[0], lk.cooldown(specs[1], at=50, steps=10)]
    assert [c.role for c in plot.branch_curves(other, 100)] == ["plan", "plan"]


def test_the_command_draws_the_branches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    figures: list[Any] = []
    real = plot.plot_schedules
    monkeypatch.setattr(plot, "plot_schedules",
                        lambda *a, **k: figures.append(real(*a, **k)) or figures[-1])
    out = tmp_path / "branches.png"
    rc = cli.main(["plot", TRUNK, "--branches", "4000,8000", "--cooldown", "25%",
                   "--shape", "linear", "--end", "0.1", "--steps", "12000", "--base-lr", "1e-3",
                   "-o", str(out)])
    assert rc == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = drawn(figures[0])
    assert len(lines) == 3
    for (_, xs, ys, _), at in zip(lines[1:], (4000, 8000), strict=True):
        n = at * 25 / 75  # 25% of the branched run
        check_line(xs, ys, cooldown_ref(trunk_ref, at, n, "linear", 0.1), at, 12_000, 1e-3)
    rc = cli.main(["plot", TRUNK, "--branches", "500", "--cooldown", "200", "--steps", "1000",
                   "--rows", "12"])
    text = capsys.readouterr().out
    assert rc == 0 and "cooldown at 500: 200 steps, 1-sqrt" in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--branches", "500"], ["--branches needs --cooldown"]),
        (["--cooldown", "100"], ["--cooldown describes", "--branches"]),
        (["--shape", "linear", "--end", "0.1"], ["--shape, --end describe"]),
        (["--branches", "500,x", "--cooldown", "10"], ["--branches", "'500,x'"]),
        (["--branches", "5000", "--cooldown", "10"], ["branch step", "5000", "steps=1000"]),
        (["--branches", "-1", "--cooldown", "10"], ["branch step", "-1"]),
        (["--branches", "500", "--cooldown", "100%"], ["--cooldown", "'100%'"]),
        (["--branches", "500", "--cooldown", "-3"], ["--cooldown", "'-3'"]),
        (["--branches", "500", "--cooldown", "10", "--shape", "square"], ["--shape", "square"]),
        (["--branches", "500", "--cooldown", "10", "--end", "-1"], ["end", "-1"]),
    ],
)
def test_bad_branch_options_exit_2_with_one_line(args: list[str], words: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["plot", "wsd(100, 600, 300)", "--steps", "1000", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("lrkit: error: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, (w, err)


def test_branch_curves_rejects_bad_arguments() -> None:
    s = lk.parse("cosine(steps=100)")
    with pytest.raises(ValueError, match="not both"):
        plot.branch_curves([s], 100, branches=[10], cooldown=5, fraction=0.2)
    with pytest.raises(ValueError, match="fraction"):
        plot.branch_curves([s], 100, branches=[10], fraction=1.5)
    with pytest.raises(ValueError, match="branch steps"):
        plot.branch_curves([s], 100, cooldown=5)
    with pytest.raises(ValueError, match="at least one"):
        plot.branch_curves([], 100)
    with pytest.raises(ValueError, match="not below steps=100"):
        plot.branch_curves([s, lk.cooldown(s, at=150, steps=5)], 100)
