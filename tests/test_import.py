"""``import lrkit`` imports no framework, and every public name of DESIGN.md exists (the check of
``../shared/tools/check_api.py``, self-contained)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

import lrkit as lk

CORE = [
    "Schedule", "constant", "linear", "step_decay", "multistep", "exponential", "polynomial",
    "cosine", "cosine_restarts", "one_cycle", "cyclic", "inverse_sqrt", "wsd", "warmup", "join",
    "plateau", "parse", "from_dict",
]
EXTRA = [
    "registry", "Stepper", "SpecError", "SpecMismatchWarning", "StatefulScheduleError",
    "untuned_warmup", "warmup_factor", "inverse_time",
]
MODULES = {
    "lrkit.torch": ["LRScheduler", "GradualWarmupScheduler", "LARS", "find_lr"],
    "lrkit.keras": ["KerasSchedule"],
}
HEAVY = ("torch", "jax", "jaxlib", "keras", "matplotlib", "optax", "tensorflow", "numpy")


def test_import_lrkit_imports_no_framework() -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import lrkit as lk
        s = lk.parse("warmup(cosine(steps=90), steps=10)")
        s(5); str(s); s.to_dict(); lk.Stepper(s).step()
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        print(",".join(heavy))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "", f"import lrkit imported: {out.stdout.strip()}"


@pytest.mark.parametrize("name", CORE + EXTRA)
def test_core_names(name: str) -> None:
    assert hasattr(lk, name), f"lrkit.{name} is missing"
    assert name in lk.__all__


def test_all_is_sorted_and_importable() -> None:
    assert list(lk.__all__) == sorted(lk.__all__)
    for name in lk.__all__:
        assert hasattr(lk, name), name


def test_errors_are_value_errors() -> None:
    assert issubclass(lk.SpecError, ValueError)
    assert issubclass(lk.StatefulScheduleError, ValueError)
    assert issubclass(lk.SpecMismatchWarning, Warning)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_framework_modules(module: str) -> None:
    pytest.importorskip(module.split(".")[1])
    m = importlib.import_module(module)
    missing = [n for n in MODULES[module] if not hasattr(m, n)]
    assert not missing, f"{module} lacks {missing}"


def test_every_constructor_is_a_registered_schedule() -> None:
    reg = lk.registry()
    for name in [*CORE[1:16], "untuned_warmup", "warmup_factor", "inverse_time"]:
        ctor = getattr(lk, name)
        assert name in reg, name
        assert isinstance(ctor, type) and issubclass(ctor, lk.Schedule), name
        assert reg[name] is ctor, name
