"""The docs playground (site/playground/): the built page in headless Chromium (Debian's
/usr/bin/chromium, driven by Playwright; nothing downloaded, nothing fetched off the site) runs
lrkit in Pyodide. Typed specs draw the rates ``peak * s(t)`` (checked at every drawn step
against the formula written out here, or against lrkit in this process), boundaries are drawn
and marked, a bad spec shows lrkit's message with its caret, and the URL holds the state: a
link reproduces the chart, an edit updates the link. Chromium missing is a failure, never a
skip (scripts/setup-env.sh installs it)."""

from __future__ import annotations

import html
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

import lrkit as lk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import playground as harness  # noqa: E402

try:
    import playwright  # noqa: F401
except ImportError as exc:  # the test command drives the page: the test tools must be there
    raise ImportError("tests/test_playground.py needs playwright: pip install --group test "
                      "(see pyproject.toml); Debian's chromium: scripts/setup-env.sh") from exc

PEAK = 3e-4
PYODIDE_FILES = ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip",
                 "pyodide-lock.json")


def close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300)


def warmup_cosine(t: int, peak: float = PEAK) -> float:
    """warmup(cosine(steps=9000, end=0.01), steps=1000), written out: a linear ramp from 0 to
    the cosine's start, then end + (1 - end) * (1 + cos(pi * u / 9000)) / 2 on u = t - 1000."""
    if t < 1000:
        return peak * t / 1000
    u = min(t - 1000, 9000)
    return peak * (0.01 + 0.99 * (1 + math.cos(math.pi * u / 9000)) / 2)


def step_decay(t: int, peak: float = PEAK) -> float:
    return peak * 0.5 ** (t // 3000)


def decode(fragment: str) -> tuple[list[str], str | None, str | None]:
    specs, steps, peak = [], None, None
    for part in fragment.lstrip("#").split("&"):
        key, _, value = part.partition("=")
        if key == "spec":
            specs.append(unquote(value))
        elif key == "steps":
            steps = unquote(value)
        elif key == "peak":
            peak = unquote(value)
    return specs, steps, peak


def lrkit_rates(spec: str, ts: list[int], peak: float) -> list[float]:
    s = lk.parse(spec)
    return [peak * s(float(t)) for t in ts]


@pytest.fixture(scope="module")
def served(built_site: Path) -> Iterator[str]:
    with harness.serve(built_site) as base:
        yield base


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    harness.require_chromium()  # a failure, not a skip
    with harness.browser() as ctx:
        yield ctx


@pytest.fixture(scope="module")
def page(context: Any, served: str) -> harness.Page:
    return harness.Page(context, served).open()


def test_the_site_serves_pyodide_and_lrkit_itself(built_site: Path, page: harness.Page) -> None:
    folder = built_site / "playground"
    for name in PYODIDE_FILES:
        assert (folder / "pyodide" / name).is_file(), name
    assert (folder / "lrkit.zip").is_file()
    hosts = {re.sub(r"^https?://([^/]+).*", r"\1", u) for u in page.elsewhere}
    assert hosts <= harness.ALLOWED_ELSEWHERE, page.elsewhere  # everything else is the site's
    assert page.timings()["lrkitVersion"] == lk.__version__
    assert not page.errors, page.errors


def test_typed_specs_draw_lrkit_s_rates(page: harness.Page, app: Any) -> None:
    typed = ["warmup(cosine(9000, end=0.01), 1000)", "step_decay(3000, 0.5)",
             'wsd(100, 6000, 3900, decay_shape="1-sqrt")']
    page.set(typed, 10_000, PEAK)
    state = page.state()
    assert state["error"] is None
    curves = state["curves"]
    assert [c["input"] for c in curves] == typed
    assert [c["canonical"] for c in curves] == [
        "warmup(cosine(steps=9000, end=0.01), steps=1000)",
        "step_decay(step_size=3000, gamma=0.5)",
        'wsd(warmup=100, stable=6000, decay=3900, decay_shape="1-sqrt")',
    ]
    for c in curves:
        assert c["error"] is None
        ts = c["t"]
        assert ts == sorted(set(ts)) and ts[0] == 0 and ts[-1] == 9_999 and len(ts) >= app.POINTS
    # every drawn rate, against the formula written out / lrkit in this process
    for k, formula in ((0, warmup_cosine), (1, step_decay)):
        ts, vs = curves[k]["t"], curves[k]["v"]
        bad = [(t, v, formula(t)) for t, v in zip(ts, vs, strict=True) if not close(v, formula(t))]
        assert not bad, bad[:5]
    want = lrkit_rates(curves[2]["canonical"], curves[2]["t"], PEAK)
    assert all(close(v, w) for v, w in zip(curves[2]["v"], want, strict=True))
    # the steps on either side of each boundary are drawn, and the boundaries are marked
    assert {999, 1000} <= set(curves[0]["t"]) and curves[0]["boundaries"] == [1000.0]
    assert {99, 100, 6099, 6100} <= set(curves[2]["t"])
    assert curves[2]["boundaries"] == [100.0, 6100.0]
    assert curves[1]["boundaries"] == []
    assert curves[0]["v"][curves[0]["t"].index(1000)] == PEAK  # the warmup's end: the peak
    # the rates under the pointer, at the step it is on
    for fraction in (0.1003, 0.5, 0.9):
        step, values = page.hover(fraction)
        assert 0 <= step <= 9_999
        assert set(values) == {0, 1, 2}
        assert close(values[0], warmup_cosine(step)) and close(values[1], step_decay(step))
        assert close(values[2], lrkit_rates(curves[2]["canonical"], [step], PEAK)[0])
    # the code for each framework runs the canonical spec at the peak
    for c in curves:
        assert set(c["snippets"]) == {"PyTorch", "optax", "Keras", "TensorFlow"}
        for code in c["snippets"].values():
            assert repr(c["canonical"]) in code
        assert f"lr={PEAK!r}" in c["snippets"]["PyTorch"]
    # the URL holds what was typed
    assert decode(page.hash) == (typed, "10000", str(PEAK))


def test_a_long_run_draws_its_boundaries_exactly(page: harness.Page, app: Any) -> None:
    page.set(["warmup(cosine(steps=90000, end=0.01), steps=10000)", "step_decay(3000, 0.5)"],
             100_000)
    curves = page.state()["curves"]
    ts, vs = curves[0]["t"], curves[0]["v"]
    assert len(ts) <= app.POINTS + 2 and ts[-1] == 99_999 and {9_999, 10_000} <= set(ts)
    for t, v in zip(ts, vs, strict=True):
        want = PEAK * t / 10_000 if t < 10_000 else PEAK * (
            0.01 + 0.99 * (1 + math.cos(math.pi * (t - 10_000) / 90_000)) / 2)
        assert close(v, want), (t, v, want)
    assert all(close(v, step_decay(t)) for t, v in zip(curves[1]["t"], curves[1]["v"],
                                                       strict=True))


def test_a_bad_spec_shows_lrkit_s_error_with_its_caret(page: harness.Page) -> None:
    bad = "warmup(cosine(steps=9000), stepz=10)"
    page.set(["cosine(steps=100)", bad], 1000)
    good, wrong = page.state()["curves"]
    assert good["error"] is None and len(good["t"]) == 1000
    assert wrong["canonical"] is None and not wrong["t"]
    message = wrong["error"]
    assert "stepz" in message and "steps" in message
    spec_line, caret_line = message.splitlines()[-2:]
    assert spec_line.strip() == bad
    column = int(re.findall(r"at column (\d+)", message)[-1])  # 1-based, in the spec
    indent = len(spec_line) - len(spec_line.lstrip())
    assert caret_line.strip() == "^" and caret_line.index("^") == indent + column - 1
    with pytest.raises(ValueError) as exc:
        lk.parse(bad)
    assert message == str(exc.value)  # lrkit's own message, as it is
    page.set(steps="ten")
    state = page.state()
    assert state["error"] is not None and "steps must be a whole number" in state["error"]
    assert "'ten'" in state["error"] and not any(c["t"] for c in state["curves"])
    page.set(steps=1000, peak="-1")
    state = page.state()
    assert state["error"] is not None and "peak must be a finite number > 0" in state["error"]
    page.set(peak=PEAK)
    assert page.state()["error"] is None
    assert not page.errors, page.errors


def test_a_shared_link_round_trips(context: Any, served: str, app: Any) -> None:
    specs = ["linear(0.0, 1.0, 100) >> cosine(steps=900, end=0.05)",
             "0.5 * cosine(steps=5000) + 0.5 * cyclic(0.0, 1.0, 125)",
             'wsd(100, 600, 300, decay_shape="cosine")']
    first = harness.Page(context, served).open(harness.fragment(specs, 5000, 0.001))
    assert first.inputs() == (specs, "5000", "0.001")
    state = first.state()
    for spec, c in zip(specs, state["curves"], strict=True):
        assert c["input"] == spec and c["canonical"] == str(lk.parse(spec))
        assert len(c["t"]) >= app.POINTS  # sampled, with the steps around each boundary
        assert all(close(v, w) for v, w in zip(c["v"], lrkit_rates(spec, c["t"], 0.001),
                                               strict=True))
    # an edit updates the link
    first.set([*specs[:2], "step_decay(700, 0.3)"], 4000, 0.002)
    assert decode(first.hash) == ([*specs[:2], "step_decay(700, 0.3)"], "4000", "0.002")
    edited = first.state()
    # the edited link opens the same chart
    second = harness.Page(context, served).open(first.hash)
    assert second.inputs() == ([*specs[:2], "step_decay(700, 0.3)"], "4000", "0.002")
    assert second.state() == edited
    # a link followed inside the page (the gallery menu sets it) redraws
    second.page.select_option("#pg-gallery", label="nanoGPT: GPT-2 124M")
    second.page.wait_for_function("document.getElementById('pg-steps').value === '620000'")
    second.page.wait_for_function("window.lrkitPlayground.idle()")
    nano = second.state()["curves"]
    assert [c["canonical"] for c in nano] == [str(_recipe("nanogpt")[1])]
    lr, s = _recipe("nanogpt")
    assert all(close(v, lr * s(float(t))) for t, v in zip(nano[0]["t"], nano[0]["v"],
                                                          strict=True))
    assert not first.errors and not second.errors


def _recipe(rid: str) -> tuple[float, lk.Schedule]:
    from recipes._harness import recipe

    return recipe(rid)


def test_every_strategy_page_and_recipe_links_to_the_playground(built_site: Path) -> None:
    from recipes._harness import recipes

    link = re.compile(r'href="((?:\.\./)+)playground/(#[^"]+)"')
    for md in sorted((ROOT / "docs" / "strategies").glob("*.md")):
        text = (built_site / "strategies" / md.stem / "index.html").read_text(encoding="utf-8")
        found = link.findall(text)
        assert found, f"{md.name}: no link to the playground"
        for up, frag in found:
            assert up == "../../"
            specs, steps, peak = decode(html.unescape(frag))
            assert specs and steps is not None and int(steps) > 0 and peak is not None
            for spec in specs:
                lk.parse(spec)
    text = (built_site / "recipes" / "index.html").read_text(encoding="utf-8")
    links = [decode(html.unescape(frag)) for up, frag in link.findall(text) if up == "../"]
    gallery = recipes()
    assert len(links) == len(gallery)
    for (specs, _, peak), (rid, ns) in zip(links, gallery.items(), strict=True):
        assert lk.parse(specs[0]) == ns["s"], rid  # in the page's order
        for branch in specs[1:]:  # a recipe charted with --branches: its cooldown branches too
            b = lk.parse(branch)
            assert isinstance(b, lk.Cooldown) and b.schedule == ns["s"], (rid, branch)
        assert peak is not None and float(peak) == ns["lr"], rid


def test_the_code_on_the_page_runs_that_schedule(page: harness.Page) -> None:
    """Each framework's snippet, as the page shows it, executed: the rates it gives are
    ``peak * s(t)`` (the formula written out above)."""
    page.set(["warmup(cosine(9000, end=0.01), 1000)"], 10_000, PEAK)
    code = page.state()["curves"][0]["snippets"]
    import torch

    ns: dict[str, Any] = {"model": torch.nn.Linear(2, 1)}
    exec(code["PyTorch"], ns)
    optimizer, scheduler = ns["optimizer"], ns["scheduler"]
    for t in range(1_100):
        assert close(optimizer.param_groups[0]["lr"], warmup_cosine(t)), t
        optimizer.step()
        scheduler.step()

    import jax.numpy as jnp

    ns = {}
    exec(code["optax"], ns)
    assert all(close(ns["schedule"](t), warmup_cosine(t)) for t in (0, 1, 999, 1000, 5000))
    params = {"w": jnp.ones(2)}
    updates, _ = ns["optimizer"].update(params, ns["optimizer"].init(params), params)
    assert float(jnp.abs(updates["w"]).max()) == 0.0  # s(0) = 0: the first update is zero

    ns = {}
    exec(code["Keras"], ns)
    for t in (0, 500, 1000, 5000):  # Keras computes in float32
        assert math.isclose(float(ns["schedule"](t)), warmup_cosine(t), rel_tol=1e-6), t
    assert float(ns["optimizer"].learning_rate) == 0.0

    ns = {}
    exec(code["TensorFlow"], ns)
    for t in (0, 500, 1000, 5000):
        ns["step"].assign(float(t))
        assert close(float(ns["rate"]()), warmup_cosine(t)), t


# --- the page's Python side in this interpreter (no browser) -----------------------------------


@pytest.fixture(scope="module")
def app() -> Any:
    import importlib.util

    path = ROOT / "docs" / "playground" / "lrkit_playground.py"
    spec = importlib.util.spec_from_file_location("lrkit_playground", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lrkit_playground"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("text", "steps"), [("100000", 100_000), ("1e5", 100_000),
                                             (" 1_000 ", 1000), ("1", 1)])
def test_steps_are_read_as_whole_numbers(app: Any, text: str, steps: int) -> None:
    assert app.parse_steps(text) == steps


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "ten", "", "1e300", "nan"])
def test_bad_steps_are_refused_with_what_was_given(app: Any, text: str) -> None:
    with pytest.raises(ValueError, match=r"steps must be a whole number") as exc:
        app.parse_steps(text)
    assert repr(text) in str(exc.value)


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "x", ""])
def test_bad_peaks_are_refused_with_what_was_given(app: Any, text: str) -> None:
    with pytest.raises(ValueError, match=r"peak must be a finite number > 0") as exc:
        app.parse_peak(text)
    assert repr(text) in str(exc.value)


def test_the_steps_drawn(app: Any) -> None:
    short = lk.parse("cosine(steps=500)")
    assert app.sample_steps(short, app.POINTS) == list(range(app.POINTS))
    long = lk.parse("warmup(join([constant(), cosine(steps=5000)], [30000.5]), steps=10000)")
    ts = app.sample_steps(long, 100_000)
    assert ts[0] == 0 and ts[-1] == 99_999 and ts == sorted(set(ts))
    assert {9_999, 10_000, 40_000, 40_001} <= set(ts)  # either side of 10000 and 40000.5
    assert len(ts) <= app.POINTS + 4


def test_no_curve_for_a_plateau_and_a_curve_cut_where_it_overflows(app: Any) -> None:
    import json

    specs = ["warmup(plateau(), steps=10)", "exponential(2.0)", "exponential(2.0, end=1e30)"]
    out = json.loads(app.render(specs, str(app.POINTS), "1"))  # every step drawn
    plateau, unbounded, growing = out["curves"]
    assert plateau["canonical"] == "warmup(plateau(), steps=10)" and "plateau()" in plateau["note"]
    assert [c["drawn"] for c in out["curves"]] == [False, False, True]
    assert unbounded["error"].startswith("exponential: end must be a ceiling")  # lrkit's own
    assert growing["note"] is None
    # a peak of 1e300 times 2.0 ** t passes the largest double at t = 28: the curve stops there
    out = json.loads(app.render(specs[2:], str(app.POINTS), "1e300"))
    assert 1e300 * 2.0**27 <= sys.float_info.max < 1e300 * 2.0**28
    assert "overflows at step 28:" in out["curves"][0]["note"]
