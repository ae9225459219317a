"""Charts, in process: sampled values against the formulas, what the figure holds (legend, axes,
phase boundaries), the terminal chart's size, and lazy imports."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lrkit as lk
from lrkit import plot

pytest.importorskip("matplotlib")

WARMUP_COSINE = "warmup(cosine(steps=900, end=0.01), steps=100, start=0.001)"


def warmup_cosine_ref(t: float) -> float:
    """Linear 0.001 -> 1 over 100 steps, then 0.01 + 0.99 * (1 + cos(pi u / 900)) / 2."""
    if t < 100:
        return 0.001 + (1 - 0.001) * t / 100
    u = min(t - 100, 900)
    return 0.01 + (1 - 0.01) * (1 + math.cos(math.pi * u / 900)) / 2


def test_curve_samples_every_step_times_base_lr() -> None:
    c = plot.curve(lk.parse(WARMUP_COSINE), 1200, base_lr=3e-4)
    assert c.xs == tuple(range(1200))
    for t in (0, 1, 50, 100, 101, 550, 999, 1000, 1199):
        assert c.values[t] == pytest.approx(3e-4 * warmup_cosine_ref(t), rel=1e-12)
    assert c.breakpoints == (100.0,)
    assert c.label == WARMUP_COSINE


def test_curve_of_a_long_run_is_sampled() -> None:
    c = plot.curve(lk.parse("step_decay(100000, 0.5)"), 1_000_000)
    assert len(c.xs) <= plot.MAX_POINTS and c.xs[0] == 0 and c.xs[-1] == 999_999
    for x, v in zip(c.xs[::997], c.values[::997], strict=True):
        assert v == 0.5 ** (x // 100000)


def test_curve_rejects_plateau_and_bad_steps() -> None:
    with pytest.raises(ValueError, match="plateau"):
        plot.curve(lk.parse("plateau() * cosine(steps=10)"), 10)
    with pytest.raises(ValueError, match="steps"):
        plot.curve(lk.parse("cosine(steps=10)"), 0)


def test_figure_holds_legend_labels_axes_and_boundaries(tmp_path: Path) -> None:
    specs = [WARMUP_COSINE, "wsd(warmup=100, stable=600, decay=300)"]
    curves = [plot.curve(lk.parse(s), 1000) for s in specs]
    fig = plot.plot_schedules(curves, str(tmp_path / "c.png"), log=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == specs
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate"
    assert ax.get_yscale() == "log"
    vertical = sorted(
        float(line.get_xdata()[0]) for line in ax.lines
        if len(set(map(float, line.get_xdata()))) == 1 and line.get_linestyle() == "--"
    )
    assert vertical == [100.0, 100.0, 700.0]  # warmup end; wsd's warmup and stable ends
    steps_line = ax.lines[0]
    assert steps_line.get_drawstyle() == "steps-post"
    assert list(steps_line.get_ydata()[:3]) == pytest.approx(
        [warmup_cosine_ref(t) for t in range(3)], rel=1e-12)


def test_linear_axis_and_pixel_size(tmp_path: Path) -> None:
    curves = [plot.curve(lk.parse("cosine(steps=50)"), 50)]
    path = tmp_path / "c.png"
    fig = plot.plot_schedules(curves, str(path), width=333, height=222, dpi=72)
    assert fig.axes[0].get_yscale() == "linear"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (333, 222)


@pytest.mark.parametrize("name", ["c.pdf", "c", "c.jpeg"])
def test_only_png_and_svg(tmp_path: Path, name: str) -> None:
    curves = [plot.curve(lk.parse("cosine(steps=5)"), 5)]
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        plot.plot_schedules(curves, str(tmp_path / name))
    assert not (tmp_path / name).exists()


def test_unwritable_path_is_an_os_error(tmp_path: Path) -> None:
    curves = [plot.curve(lk.parse("cosine(steps=5)"), 5)]
    with pytest.raises(OSError, match="cannot write"):
        plot.plot_schedules(curves, str(tmp_path / "missing" / "c.png"))


@pytest.mark.parametrize("width", [40, 80, 137])
def test_terminal_chart_fits_the_width(width: int) -> None:
    curves = [plot.curve(lk.parse(WARMUP_COSINE), 1000),
              plot.curve(lk.parse("step_decay(300, 0.5)"), 1000)]
    text = plot.terminal_chart(curves, width=width, height=20)
    lines = text.splitlines()
    chart = lines[:-2]
    assert all(len(line) <= width for line in chart)
    assert max(len(line) for line in chart) >= width - 2
    assert len(lines) <= 20
    assert lines[-2].endswith(WARMUP_COSINE)
    assert lines[-1].endswith("step_decay(step_size=300, gamma=0.5)")
    assert "\x1b[" not in text
    assert "learning rate" in text and "step" in text


def test_terminal_chart_log_scale_and_colour() -> None:
    curves = [plot.curve(lk.parse("cosine(steps=100)"), 100)]
    text = plot.terminal_chart(curves, log=True, width=80, height=15, color=True)
    assert "\x1b[" in text
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert "cosine(steps=100)" in plain


def test_import_lrkit_does_not_import_plotting_libraries() -> None:
    code = (
        "import sys, lrkit, lrkit.cli, lrkit.specfile\n"
        "bad = [m for m in ('matplotlib', 'plotext', 'yaml', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


DOC_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "img"


@pytest.mark.skipif(not DOC_IMAGES.is_dir(), reason="docs/img not generated")
def test_doc_images_are_small_800x450_pngs() -> None:
    images = sorted(DOC_IMAGES.glob("*.png"))
    assert {p.stem for p in images} >= {
        "warmup_cosine", "constant_linear", "step_decay", "multistep", "exponential",
        "polynomial", "cosine", "cosine_restarts", "one_cycle", "cyclic", "inverse_sqrt", "wsd",
        "warmup_shapes", "untuned_warmup", "range_test",
    }
    for p in images:
        data = p.read_bytes()
        assert len(data) < 80_000, p.name
        assert data[:8] == b"\x89PNG\r\n\x1a\n", p.name
        size = (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
        assert size == (800, 450), p.name


@pytest.mark.parametrize("boundary", [100, 300, 750])
def test_terminal_chart_marks_the_phase_boundary_where_it_is(boundary: int) -> None:
    """The dotted vertical line stands at the boundary's step, in axis units (not cells)."""
    steps = 1000
    s = lk.warmup(lk.cosine(steps=steps - boundary), steps=boundary)
    text = plot.terminal_chart([plot.curve(s, steps)], width=100, height=24)
    rows = text.splitlines()
    frame = next(r for r in rows if "┌" in r)
    left, right = frame.index("┌"), frame.index("┐")
    cols = {r.index("┊") for r in rows if "┊" in r}
    assert len(cols) == 1, f"expected one vertical marker column, got {sorted(cols)}"
    where = (cols.pop() - left) / (right - left)
    assert abs(where - boundary / (steps - 1)) < 0.03, (where, boundary)


def test_a_long_legend_label_is_wrapped_to_the_chart_width(tmp_path: Path) -> None:
    """A spec longer than the chart is wide goes below it in lines that fit, not cut off."""
    parts = [lk.constant(0.04 - 0.001 * i) for i in range(8)]
    s = lk.join([lk.warmup(lk.cosine(steps=900, end=0.05), 100, start=0.01), *parts],
                [1000 + 10 * i for i in range(8)])
    fig = plot.plot_schedules([plot.curve(s, 1200)], str(tmp_path / "c.png"), width=640,
                              height=300, dpi=80)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[0].replace("\n", " ") == str(s)
    fig.canvas.draw()
    box = fig.legends[0].get_window_extent()
    assert box.x0 >= 0 and box.x1 <= 640
