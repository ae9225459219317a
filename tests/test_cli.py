"""The ``lrkit`` command, run as a user runs it: the installed script in a subprocess. Tables are
checked against the published formulas written out here and against the library; charts are
read back as images."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import lrkit as lk

_SCRIPT = Path(sys.executable).with_name("lrkit")
LRKIT = [str(_SCRIPT)] if _SCRIPT.exists() else [shutil.which("lrkit") or "lrkit"]
PYTHON_M = [sys.executable, "-m", "lrkit"]

WARMUP_COSINE = "warmup(cosine(steps=900, end=0.01), steps=100, start=0.001)"


def warmup_cosine_ref(t: float) -> float:
    """Linear 0.001 -> 1 over 100 steps, then 0.01 + 0.99 * (1 + cos(pi u / 900)) / 2."""
    if t < 100:
        return 0.001 + (1 - 0.001) * t / 100
    u = min(t - 100, 900)
    return 0.01 + (1 - 0.01) * (1 + math.cos(math.pi * u / 900)) / 2


def run(*args: str, cwd: Path | None = None, cmd: list[str] | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "100", "LINES": "30", **(env or {})}
    full_env.pop("NO_COLOR", None)
    return subprocess.run([*(cmd or LRKIT), *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=120)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stderr.startswith("lrkit: error: "), result.stderr
    assert len(result.stderr.splitlines()) <= 4, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


# --- plot ----------------------------------------------------------------------------------------


def test_plot_png_is_a_real_image_of_the_requested_size(tmp_path: Path) -> None:
    out = tmp_path / "chart.png"
    r = run("plot", WARMUP_COSINE, "step_decay(300, 0.5)", "--steps", "1000", "--base-lr",
            "3e-4", "-o", str(out), "--size", "640x360")
    assert r.returncode == 0, r.stderr
    assert png_size(out.read_bytes()) == (640, 360)
    other = tmp_path / "other.png"
    r = run("plot", "cosine(steps=10)", "--steps", "10", "-o", str(other), "--width", "500",
            "--height", "300")
    assert r.returncode == 0, r.stderr
    assert png_size(other.read_bytes()) == (500, 300)
    from PIL import Image

    with Image.open(out) as img:
        img.load()
        assert img.size == (640, 360)
        colours = img.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 10  # lines, text, grid: not a blank canvas


def test_plot_default_size_and_log_axis(tmp_path: Path) -> None:
    out = tmp_path / "log.png"
    r = run("plot", "exponential(0.99)", "--steps", "500", "--log", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert png_size(out.read_bytes()) == (800, 450)
    import matplotlib.image

    pixels = matplotlib.image.imread(str(out))
    assert pixels.shape[:2] == (450, 800)


def test_plot_svg_holds_legend_and_axis_labels(tmp_path: Path) -> None:
    out = tmp_path / "chart.svg"
    specs = [WARMUP_COSINE, "one_cycle(1000)", "cyclic(0.1, 1.0, 100, mode=\"triangular2\")"]
    r = run("plot", *specs, "--steps", "1000", "-o", str(out))
    assert r.returncode == 0, r.stderr
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    text = " ".join("".join(e.itertext()) for e in root.iter() if e.tag.endswith("text"))
    for spec in specs:
        assert str(lk.parse(spec)) in text
    assert "learning rate" in text and "step" in text


def test_plot_in_the_terminal_without_a_tty() -> None:
    r = run("plot", WARMUP_COSINE, "inverse_sqrt(100)", "--steps", "1000")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert WARMUP_COSINE in r.stdout and "inverse_sqrt(timescale=100)" in r.stdout
    assert "learning rate" in r.stdout
    assert "\x1b[" not in r.stdout  # no colour codes when stdout is not a terminal
    narrow = run("plot", WARMUP_COSINE, "--steps", "1000", env={"COLUMNS": "60"})
    assert narrow.returncode == 0
    assert max(len(line) for line in narrow.stdout.splitlines()[:-1]) <= 60


def test_plot_a_spec_file(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(f"lr: 3.0e-4\nschedule: '{WARMUP_COSINE}'\n")
    r = run("plot", "@run.yaml", "--steps", "1000", "-o", "out.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert png_size((tmp_path / "out.png").read_bytes()) == (800, 450)


# --- table ---------------------------------------------------------------------------------------


def test_csv_table_matches_the_formula_and_the_library(tmp_path: Path) -> None:
    r = run("table", WARMUP_COSINE, "--steps", "1000", "--every", "7", "--base-lr", "3e-4",
            "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["step", "lr"]
    steps = [int(s) for s, _ in rows[1:]]
    assert steps == list(range(0, 1000, 7))  # every 7th step below 1000
    schedule = lk.parse(WARMUP_COSINE)
    for step, value in rows[1:]:
        t = int(step)
        assert float(value) == pytest.approx(3e-4 * warmup_cosine_ref(t), rel=1e-12)
        assert float(value) == 3e-4 * schedule(t)  # full precision: exactly the library's value


def test_text_and_markdown_tables() -> None:
    text = run("table", "step_decay(3, 0.5)", "--steps", "10", "--every", "4")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["step", "lr"]
    # 0.5 ** floor(t / 3) at t = 0, 4, 8
    assert [line.split() for line in lines[1:]] == [["0", "1.0"], ["4", "0.5"], ["8", "0.25"]]
    md = run("table", "linear(0.0, 1.0, 3)", "--steps", "4", "--format", "markdown")
    assert md.returncode == 0, md.stderr
    lines = md.stdout.splitlines()
    assert lines[0] == "| step | lr |"
    assert set(lines[1].replace("|", "").split()) == {"---:"}
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [(int(a), float(b)) for a, b in cells] == [(0, 0.0), (1, 1 / 3), (2, 2 / 3), (3, 1.0)]


def test_table_from_json_dict_file(tmp_path: Path) -> None:
    spec = {"type": "polynomial", "steps": 10, "power": 2.0, "end": 0.1}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    r = run("table", "@s.json", "--steps", "12", "--format", "csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for step, value in list(csv.reader(io.StringIO(r.stdout)))[1:]:
        t = min(int(step), 10)
        assert float(value) == pytest.approx((1 - 0.1) * (1 - t / 10) ** 2 + 0.1, rel=1e-12)


# --- show, list, help, version -------------------------------------------------------------------


def test_show_prints_canonical_spec_duration_and_boundaries() -> None:
    r = run("show", "warmup(cosine(steps=900,end=0.01),steps=100,start=1e-3)")
    assert r.returncode == 0, r.stderr
    assert WARMUP_COSINE in r.stdout
    assert "1000" in r.stdout and "100.0" in r.stdout
    as_json = run("show", WARMUP_COSINE, "--json")
    assert lk.from_dict(json.loads(as_json.stdout)) == lk.parse(WARMUP_COSINE)


def test_list_names_every_registered_schedule() -> None:
    r = run("list")
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines()]
    assert names == sorted(lk.registry())
    cosine_line = next(x for x in r.stdout.splitlines() if x.startswith("cosine "))
    assert "cos" in cosine_line.split(maxsplit=1)[1]


@pytest.mark.parametrize("cmd", [LRKIT, PYTHON_M])
def test_help_and_version(cmd: list[str]) -> None:
    r = run("--help", cmd=cmd)
    assert r.returncode == 0 and "plot" in r.stdout and "table" in r.stdout
    v = run("--version", cmd=cmd)
    assert v.returncode == 0 and lk.__version__ in v.stdout
    sub = run("plot", "--help", cmd=cmd)
    assert sub.returncode == 0 and "--base-lr" in sub.stdout


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["plot", "cosin(steps=10)", "--steps", "10"], ["cosine"]),
        (["table", "cosine(steps=10", "--steps", "10"], ["^"]),
        (["table", "cosine(steps=-1)", "--steps", "10"], ["steps"]),
        (["table", "cosine(steps=10)", "--steps", "0"], ["--steps"]),
        (["table", "cosine(steps=10)", "--steps", "-3"], ["--steps"]),
        (["table", "cosine(steps=10)", "--steps", "ten"], ["--steps"]),
        (["table", "cosine(steps=10)", "--steps", "2.5"], ["--steps"]),
        (["table", "cosine(steps=10)", "--steps", "10", "--base-lr", "nan"], ["--base-lr"]),
        (["table", "cosine(steps=10)", "--steps", "10", "--base-lr", "0"], ["--base-lr"]),
        (["table", "cosine(steps=10)", "--steps", "10", "--every", "0"], ["--every"]),
        (["table", "cosine(steps=10)", "--steps", "10", "--format", "xml"], ["--format"]),
        (["table", "cosine(steps=10)"], ["--steps"]),
        (["plot", "cosine(steps=10)", "--steps", "10", "--frobnicate"], ["--frobnicate"]),
        (["plot", "cosine(steps=10)", "--steps", "10", "-o", "x.pdf"], [".png or .svg"]),
        (["plot", "cosine(steps=10)", "--steps", "10", "-o", "no/such/dir/x.png"], ["x.png"]),
        (["plot", "cosine(steps=10)", "--steps", "10", "--size", "big"], ["--size"]),
        (["plot", "cosine(steps=10)", "--steps", "10", "--width", "5"], ["--width"]),
        (["plot", "linear(0.0, 0.0, 10)", "--steps", "10", "--log"], ["log"]),
        (["plot", "linear(0.0, 0.0, 10)", "--steps", "10", "--log", "-o", "z.png"], ["log"]),
        (["table", "@missing.json", "--steps", "10"], ["missing.json"]),
        (["plot", "plateau() * cosine(steps=10)", "--steps", "10"], ["plateau"]),
        (["table", "plateau()", "--steps", "10"], ["plateau"]),
        (["table", "__import__('os').system('echo hi')", "--steps", "3"], ["__import__"]),
        (["table", "cosine(steps=10) % 2", "--steps", "3"], ["not allowed"]),
        (["table", "cosine(steps=10) ** cosine(steps=3)", "--steps", "3"], ["exponent"]),
        (["table", "batch_rampup(32, 30, 1000, 1024)", "--steps", "3"], ["increment", "30"]),
        (["show", ""], ["empty"]),
        (["frobnicate"], ["frobnicate"]),
        ([], ["command"]),
    ],
)
def test_bad_input_is_one_short_message_and_status_2(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    assert_error(run(*args, cwd=tmp_path), *needles)


def test_bad_spec_file_contents(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "bad.yaml").write_text("schedule: 'cosine(steps=10'\n")
    (tmp_path / "bad.txt").write_text("linear(1.0)\n")
    assert_error(run("table", "@bad.json", "--steps", "3", cwd=tmp_path), "JSON")
    assert_error(run("table", "@bad.yaml", "--steps", "3", cwd=tmp_path), "bad.yaml", "^")
    assert_error(run("table", "@bad.txt", "--steps", "3", cwd=tmp_path), "end")


def test_caret_points_at_the_problem() -> None:
    spec = "cosine(steps=100) * cosin(steps=3)"
    r = run("table", spec, "--steps", "3")
    assert_error(r, "cosin")
    lines = r.stderr.splitlines()
    i = next(k for k, line in enumerate(lines) if line.strip() == spec)
    caret = lines[i + 1]
    assert caret.strip() == "^"
    assert caret.index("^") - lines[i].index(spec) == spec.index("cosin(")


def test_python_m_reports_errors_the_same_way() -> None:
    assert_error(run("plot", "nope()", "--steps", "3", cmd=PYTHON_M), "nope")
