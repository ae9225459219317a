"""A clean wheel: built from this checkout and installed with no extras and no index into a fresh
venv, it holds lrkit and py.typed only, gives a working ``lrkit`` command and notebook display,
``import lrkit`` imports neither numpy nor a framework, and every adapter module without its
framework raises an ImportError naming the extra that installs it."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "torch", "jax", "optax", "keras", "tensorflow", "tf_keras", "matplotlib",
         "plotext", "yaml", "transformers", "lightning", "pytorch_lightning")
ADAPTERS = ("torch", "keras", "optax", "plot", "transformers", "lightning", "tf_keras", "timm",
            "losscurve")
"""Modules of lrkit that need an extra (each that is in the wheel is checked)."""
DISTRIBUTION = {"yaml": "pyyaml", "tf_keras": "tf-keras", "pytorch_lightning": "pytorch-lightning"}
"""Import name -> distribution name, where they differ."""
_IGNORE = shutil.ignore_patterns(".git", ".venv", "site", "build", "dist", "out", "*.egg-info",
                                 "__pycache__", ".*_cache", ".hypothesis", "lightning_logs")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the wheel, the python of a fresh venv where it alone is installed)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_IGNORE)  # no stale build/ of this checkout in the wheel
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(tmp / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("lrkit-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")],
                   check=True, timeout=120)
    python = tmp / "venv" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-index", "--no-deps", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    yield wheel, python


def _run(python: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``args`` (a command of the venv, or python's arguments) in the venv alone: no
    PYTHONPATH, so nothing of this checkout can be imported."""
    command = [str(python.parent / args[0]), *args[1:]] if args[0] == "lrkit" else [
        str(python), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          cwd=cwd or python.parent, env={"PATH": str(python.parent),
                                                         "COLUMNS": "80"})


def test_the_wheel_holds_lrkit_with_py_typed_and_nothing_else(venv: tuple[Path, Path]) -> None:
    wheel, _ = venv
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    dist_info = next(t for t in tops if t.endswith(".dist-info"))
    assert tops == {"lrkit", dist_info}, tops
    assert "lrkit/py.typed" in names
    assert not [n for n in names if re.search(r"(^|/)(tests?|bench|docs)(/|$)|conftest", n)]
    assert not [n for n in names if n.endswith((".pyc", ".png", ".pt", ".json"))]
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    requires = re.findall(r"^Requires-Dist: (.*)$", metadata, re.M)
    assert requires and all("extra ==" in r for r in requires), "the core needs no dependency"
    init = (ROOT / "src" / "lrkit" / "__init__.py").read_text(encoding="utf-8")
    version = re.search(r'^__version__ = "([^"]+)"', init, re.M)
    assert version is not None
    assert wheel.name.startswith(f"lrkit-{version.group(1)}-"), (wheel.name, version.group(1))


def test_the_lrkit_command_works(venv: tuple[Path, Path]) -> None:
    _, python = venv
    for args in (["--help"], ["list"], ["show", "warmup(cosine(steps=90), steps=10)"]):
        proc = _run(python, "lrkit", *args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout.strip()
    table = _run(python, "lrkit", "table", "cosine(steps=4)", "--steps", "5", "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = [r.split(",") for r in table.stdout.split()]
    assert rows[0] == ["step", "lr"] and [int(r[0]) for r in rows[1:]] == [0, 1, 2, 3, 4]
    want = [1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2, 0.0]
    assert [float(r[1]) for r in rows[1:]] == pytest.approx(want, rel=1e-12, abs=1e-15)
    module = _run(python, "-m", "lrkit", "--version")
    assert module.returncode == 0 and module.stdout.startswith("lrkit ")
    bad = _run(python, "lrkit", "table", "cosin(steps=4)", "--steps", "5")
    assert bad.returncode == 2 and "did you mean 'cosine'" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("output", [None, "chart.png"])
def test_plot_without_the_plot_extra_says_which_to_install(
    venv: tuple[Path, Path], tmp_path: Path, output: str | None
) -> None:
    _, python = venv
    args = ["plot", "cosine(steps=10)", "--steps", "10", *(["-o", output] if output else [])]
    proc = _run(python, "lrkit", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc
    assert "pip install 'lrkit[plot]'" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "chart.png").exists()


PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import lrkit as lk
    s = lk.warmup(lk.cosine(steps=90, end=0.1), steps=10)
    out = {"core": [s(5), str(s), lk.from_dict(s.to_dict()) == s, lk.Stepper(s).step()],
           "html": s._repr_html_(), "plateau_html": lk.plateau()._repr_html_()}
    out["heavy"] = [m for m in HEAVY if m in sys.modules]
    out["modules"] = {}
    for info in pkgutil.iter_modules(lk.__path__):
        if info.name == "__main__":
            continue
        name = "lrkit." + info.name
        before = set(sys.modules)
        try:
            importlib.import_module(name)
        except ImportError as exc:
            out["modules"][info.name] = ["ImportError", str(exc)]
        except Exception as exc:
            out["modules"][info.name] = [type(exc).__name__, str(exc)]
        else:
            heavy = [m for m in HEAVY if m in sys.modules and m not in before]
            out["modules"][info.name] = ["ok", heavy]
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def probe(venv: tuple[Path, Path]) -> dict[str, object]:
    _, python = venv
    proc = _run(python, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_import_lrkit_imports_no_numpy_nor_framework(probe: dict[str, object]) -> None:
    assert probe["heavy"] == []
    assert probe["core"] == [0.5, "warmup(cosine(steps=90, end=0.1), steps=10)", True, 0.1]


def test_the_notebook_display_works_in_the_bare_install(probe: dict[str, object]) -> None:
    import xml.etree.ElementTree as ET

    html = str(probe["html"])
    root = ET.fromstring(html)
    assert root.findtext("code") == "warmup(cosine(steps=90, end=0.1), steps=10)"
    assert root.find("{http://www.w3.org/2000/svg}svg") is not None
    assert "plateau" in str(probe["plateau_html"])


def test_every_module_imports_or_names_its_extra(probe: dict[str, object],
                                                venv: tuple[Path, Path]) -> None:
    wheel, _ = venv
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("METADATA"))).decode()
    extras: dict[str, set[str]] = {}
    for requirement, extra in re.findall(r'^Requires-Dist: (\S+).*extra == "([^"]+)"', metadata,
                                         re.M):
        name = re.split(r"[<>=!~;\[ ]", requirement)[0].lower()
        extras.setdefault(extra, set()).add(name)
    modules = probe["modules"]
    assert isinstance(modules, dict)
    for name in ("torch", "keras", "optax", "plot"):
        assert name in modules, f"lrkit.{name} is not in the wheel"
    for name, (outcome, detail) in sorted(modules.items()):
        if name not in ADAPTERS:
            assert outcome == "ok" and detail == [], f"lrkit.{name}: {outcome} {detail}"
            continue
        assert outcome == "ImportError", f"lrkit.{name} imported without its framework: {detail}"
        m = re.search(r"needs '([\w.]+)'.*pip install 'lrkit\[([\w,-]+)\]'", detail)
        assert m, f"lrkit.{name}: {detail}"
        module, extra = m.groups()
        assert extra in extras, f"lrkit.{name} names extra {extra!r}; extras: {sorted(extras)}"
        dist = DISTRIBUTION.get(module, module).lower()
        assert dist in extras[extra], f"lrkit[{extra}] does not install {dist}: {extras[extra]}"
