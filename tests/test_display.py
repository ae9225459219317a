"""Notebook display: ``Schedule._repr_html_`` is well-formed XML holding the spec (escaped) and
an SVG whose axis numbers are true: read back through the tick labels, the curve's pixels give
``s(t)`` and the dashed lines sit at the phase boundaries."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from _schedules import examples, trees
from hypothesis import given, settings

import lrkit as lk
from lrkit.display import horizon, nice_ticks, schedule_html

SVG = "{http://www.w3.org/2000/svg}"


def _parse(html: str) -> ET.Element:
    root = ET.fromstring(html)  # raises on anything that is not well-formed XML
    assert root.tag == "div"
    return root


def _svg(root: ET.Element) -> ET.Element:
    svg = root.find(f"{SVG}svg")
    assert svg is not None
    return svg


def _axis(svg: ET.Element, cls: str, coord: str) -> tuple[list[float], Any]:
    """The tick values of an axis and the pixel -> value map their labels define."""
    ticks = [(float(t.get(coord, "nan")), float(t.text or "nan"))
             for t in svg.iter(f"{SVG}text") if t.get("class") == cls]
    assert len(ticks) >= 2, f"{cls}: {ticks}"
    (p0, v0), (p1, v1) = ticks[0], ticks[-1]
    scale = (v1 - v0) / (p1 - p0)

    def value(p: float) -> float:
        return v0 + (p - p0) * scale

    for p, v in ticks:  # every label sits where the axis puts its number
        assert value(p) == pytest.approx(v, abs=abs(scale) * 0.02), (cls, ticks)
    return [v for _, v in ticks], value


def _curve(svg: ET.Element) -> list[tuple[float, float]]:
    (line,) = [e for e in svg.iter(f"{SVG}polyline") if e.get("class") == "curve"]
    return [(float(x), float(y)) for x, y in
            (pair.split(",") for pair in (line.get("points") or "").split())]


def _check_curve(s: lk.Schedule, html: str) -> None:
    svg = _svg(_parse(html))
    xs, t_of = _axis(svg, "xtick", "x")
    ys, v_of = _axis(svg, "ytick", "y")
    assert xs[0] == 0 and ys[0] == 0
    points = _curve(svg)
    assert len(points) > 100
    span = t_of(points[-1][0])
    pixel_t = abs(t_of(1.0) - t_of(0.0)) * 0.01  # half a pixel rounding: 0.005 px, doubled
    pixel_v = abs(v_of(1.0) - v_of(0.0)) * 0.01
    bps = s.breakpoints()
    for x, y in points:
        t, v = t_of(x), v_of(y)
        lo, hi = max(t - pixel_t, 0.0), t + pixel_t  # where the point may be, given rounding
        us = [lo + (hi - lo) * k / 10 for k in range(11)]
        us += [u for b in bps if lo < b < hi for u in (b, max(b - span * 1e-6, 0.0))]  # both sides
        near = [s(u) for u in us]
        assert min(near) - pixel_v <= v <= max(near) + pixel_v, (str(s), t, v, near)
    top = max(v_of(y) for _, y in points)
    if top > 0:
        assert ys[-1] >= top * (1 - 1e-6) and ys[-2] < top, "the y axis fits the curve"
    else:
        assert ys[-1] == 1.0  # an all-zero curve on a [0, 1] axis
    boundaries = sorted(t_of(float(e.get("x1", "nan"))) for e in svg.iter(f"{SVG}line")
                        if e.get("class") == "boundary")
    expected = [b for b in s.breakpoints() if 0 < b < span]
    assert boundaries == pytest.approx(expected, abs=pixel_t * 2)


@pytest.mark.parametrize("text", [
    "warmup(cosine(steps=9000, end=0.01), steps=1000, start=0.001)",
    "wsd(100, 600, 300, decay_shape='1-sqrt')",
    "3e-4 * one_cycle(1000, three_phase=True)",
    "join([constant(0.1), cosine(10, end=0.1), step_decay(2)], [3, 8])",
    "linear(0, 1, 100) >> cosine_restarts(50, period_mult=2)",
    "step_decay(30)",
    "multistep([30, 80], gamma=0.5)",
    "cyclic(0.1, 1.0, 100, mode='triangular2')",
    "exponential(0.995)",
    "inverse_sqrt(10)",
    "constant(0.5)",
    "linear(0, 1, 0.3)",
])
def test_curve_axes_and_boundaries_are_true(text: str) -> None:
    s = lk.parse(text)
    html = s._repr_html_()
    _check_curve(s, html)
    root = _parse(html)
    code = root.find("code")
    assert code is not None and code.text == str(s)  # escaped in the HTML, exact once parsed
    assert "<" not in html.split("<code", 1)[1].split(">", 1)[1].split("</code>")[0]


def test_the_boundaries_of_a_warmup_and_a_wsd_are_marked() -> None:
    for s, want in ((lk.warmup(lk.cosine(900), 100), [100.0]),
                    (lk.wsd(100, 600, 300), [100.0, 700.0, 1000.0])):
        svg = _svg(_parse(s._repr_html_()))
        _, t_of = _axis(svg, "xtick", "x")
        got = [t_of(float(e.get("x1", "nan"))) for e in svg.iter(f"{SVG}line")
               if e.get("class") == "boundary"]
        assert got == pytest.approx(want, abs=2.0)
        titles = [e.findtext(f"{SVG}title") for e in svg.iter(f"{SVG}line")
                  if e.get("class") == "boundary"]
        assert titles == [f"phase boundary at step {int(b)}" for b in want]


def test_the_axes_are_labelled() -> None:
    svg = _svg(_parse(lk.cosine(100)._repr_html_()))
    texts = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") is None]
    assert texts == ["step", "rate"]
    assert svg.findtext(f"{SVG}title") == "cosine(steps=100)"


@settings(max_examples=examples(40))
@given(s=trees(max_leaves=4))
def test_every_schedule_renders_true_and_well_formed(s: lk.Schedule) -> None:
    _check_curve(s, s._repr_html_())


def test_the_spec_text_is_escaped() -> None:
    s = lk.warmup(lk.cosine(100), 10, shape="cosine")
    html = s._repr_html_()
    assert 'shape="cosine"' not in html.split("<svg", 1)[0]
    assert "shape=&quot;cosine&quot;" in html
    assert _parse(html).findtext("code") == str(s)


def test_a_plateau_shows_its_spec_and_why_there_is_no_curve() -> None:
    s = lk.warmup(lk.plateau(factor=0.5), 10)
    root = _parse(s._repr_html_())
    assert root.find(f"{SVG}svg") is None
    assert root.findtext("code") == str(s)
    note = root.findtext("div") or ""
    assert "plateau" in note and "metrics" in note and "lrkit.Stepper" in note


def test_default_steps_cover_the_schedule() -> None:
    assert horizon(lk.warmup(lk.cosine(9000), 1000)) == 11_000  # a little past the end
    assert horizon(lk.wsd(100, 600, 300)) == 1100
    assert horizon(lk.step_decay(30)) == 120  # four drops
    assert horizon(lk.cosine_restarts(200, period_mult=2)) == 1400  # three cycles
    assert horizon(lk.cyclic(0.1, 1.0, 100)) == 400  # two cycles
    assert horizon(lk.constant()) == 100
    s = lk.exponential(0.9)
    h = horizon(s)
    assert 0.04 <= s(h) <= 0.05  # down by a factor 20 (two significant digits of steps)


def test_steps_chooses_the_range() -> None:
    s = lk.cosine(100)
    svg = _svg(_parse(schedule_html(s, steps=50)))
    _, t_of = _axis(svg, "xtick", "x")
    assert t_of(_curve(svg)[-1][0]) == pytest.approx(50, abs=0.1)
    for bad in (0, -1, float("nan"), float("inf"), True, "10"):
        with pytest.raises(ValueError, match="steps"):
            schedule_html(s, steps=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="schedule"):
        schedule_html("cosine(100)")  # type: ignore[arg-type]


def test_an_overflowing_rate_ends_the_curve_and_says_so() -> None:
    # lrkit's own schedules never overflow (exponential growth needs a ceiling: refused
    # without); a schedule of the user's own can, and the chart still says where
    with pytest.raises(ValueError, match="end must be a ceiling"):
        lk.exponential(2.0)

    @dataclasses.dataclass(frozen=True, repr=False)
    class Doubling(lk.Schedule):
        def _eval(self, t: object, xp: object, states: object) -> object:
            return xp.power(2.0, t)  # type: ignore[attr-defined]

        def __str__(self) -> str:
            return "doubling"

    s = Doubling()
    root = _parse(schedule_html(s, steps=5000))
    assert "overflows at step" in (root.findtext("div") or "")
    points = _curve(_svg(root))
    assert points  # the finite part is drawn


def test_nice_ticks() -> None:
    assert nice_ticks(1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.0003, 4) == [0.0, 0.0001, 0.0002, 0.0003]
    assert nice_ticks(11_000, 6) == [0, 2000, 4000, 6000, 8000, 10_000, 12_000]
    assert nice_ticks(0.7) == [0.0, 0.2, 0.4, 0.6, 0.8]


def test_repr_html_imports_nothing() -> None:
    code = textwrap.dedent(
        """
        import sys
        import lrkit as lk
        html = lk.parse("warmup(cosine(steps=90), steps=10)")._repr_html_()
        assert html.startswith("<div") and "<svg" in html
        print(",".join(m for m in ("numpy", "matplotlib", "torch", "jax") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == ""
