"""The gallery page itself: every recipe has a test against its source, a chart drawn from the
same schedule by scripts/make_doc_images.sh, and a spec and a dict that round-trip."""

from __future__ import annotations

import re
import shlex

import numpy as np
import pytest

import lrkit as lk

from ._harness import GALLERY, ROOT, recipes

SCRIPT = ROOT / "scripts" / "make_doc_images.sh"
IMAGES = ROOT / "docs" / "img" / "recipes"
# A chart line may end with `lrkit plot` options on a line of its own (--branches ...).
CHART = re.compile(
    r"^recipe (\S+) (\S+) (\S+) (\"[^\"]*\") \\\n\s+('[^']*')(?: \\\n\s+(--[^\n']*))?$", re.M)


def _charts() -> dict[str, tuple[int, float, str]]:
    out: dict[str, tuple[int, float, str]] = {}
    for m in CHART.finditer(SCRIPT.read_text(encoding="utf-8")):
        out[m.group(1)] = (int(m.group(2)), float(m.group(3)), shlex.split(m.group(5))[0])
    return out


def _chart_options() -> dict[str, list[str]]:
    return {m.group(1): shlex.split(m.group(6))
            for m in CHART.finditer(SCRIPT.read_text(encoding="utf-8")) if m.group(6)}


def test_branch_charts_draw_the_pages_branches() -> None:
    """A chart with --branches AT,... --cooldown P% draws cooldown(s, AT, AT * P / (100 - P))
    (1-sqrt, to 0) for each AT: exactly the page's ``branches``."""
    for rid, opts in _chart_options().items():
        assert opts[0] == "--branches" and opts[2] == "--cooldown" and len(opts) == 4, opts
        ns = recipes()[rid]
        share = float(opts[3].rstrip("%"))
        drawn = [lk.cooldown(ns["s"], at, at * share / (100 - share))
                 for at in map(int, opts[1].split(","))]
        assert drawn == list(ns["branches"].values()), rid


def test_the_gallery_has_about_forty_recipes() -> None:
    assert len(recipes()) >= 40


def test_every_recipe_is_checked_against_its_source() -> None:
    tested = "".join(p.read_text(encoding="utf-8")
                     for p in GALLERY.parents[1].joinpath("tests", "recipes").glob("test_*.py")
                     if p.name != "test_gallery.py")
    missing = [rid for rid in recipes() if f'"{rid}"' not in tested]
    assert not missing, f"recipes without a test in tests/recipes/: {missing}"


def test_every_recipe_has_its_chart() -> None:
    charts = _charts()
    assert set(charts) == set(recipes()), set(charts) ^ set(recipes())
    page = GALLERY.read_text(encoding="utf-8")
    for rid, ns in recipes().items():
        steps, base_lr, spec = charts[rid]
        assert lk.parse(spec) == ns["s"], f"{rid}: the chart's spec is not the page's schedule"
        assert base_lr == ns["lr"], rid
        values = ns["s"](np.linspace(0.0, steps, 2001))
        assert np.all(np.isfinite(values)) and np.all(values >= 0.0), rid
        assert f"(img/recipes/{rid}.png)" in page, rid


@pytest.mark.skipif(not IMAGES.is_dir(), reason="docs/img/recipes not generated")
def test_chart_images_are_small_pngs() -> None:
    for rid in recipes():
        data = (IMAGES / f"{rid}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", rid
        assert len(data) < 60_000, rid
        size = (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))
        assert size == (640, 300), rid


@pytest.mark.parametrize("rid", sorted(recipes()))
def test_spec_and_dict_round_trip(rid: str) -> None:
    s = recipes()[rid]["s"]
    assert lk.parse(str(s)) == s
    assert str(lk.parse(str(s))) == str(s)
    assert lk.from_dict(s.to_dict()) == s
