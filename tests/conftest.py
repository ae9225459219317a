"""Shared test set-up: ``tests/`` on ``sys.path`` (for ``_timm`` and ``_schedules``), a
deterministic hypothesis profile (``HYPOTHESIS_PROFILE=thorough`` for a long random run), and
the documentation site built once per run (``built_site``)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

# tests/tf/ needs TensorFlow with Keras on the tensorflow backend: a pytest process of its own
# (scripts/test.sh runs `pytest tests/tf` after the main run; tests/tf/conftest.py sets it up).
if os.environ.get("KERAS_BACKEND") != "tensorflow":
    collect_ignore = ["tf"]
os.environ.setdefault("KERAS_BACKEND", "jax")

# Deterministic: the same examples on every run and every machine, so a failure reproduces.
settings.register_profile(
    "lrkit",
    derandomize=True,
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# A long random run on demand: HYPOTHESIS_PROFILE=thorough pytest tests/test_spec.py (new
# examples each run; tests that set max_examples scale it with _schedules.examples).
settings.register_profile(
    "thorough",
    parent=settings.get_profile("lrkit"),
    derandomize=False,
    max_examples=1000,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lrkit"))



@pytest.fixture(autouse=True)
def _no_process_wide_jax_x64_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that switches on jax's x64 mode must switch it off again: left on, every later
    test of the worker sees float64 jax arrays (read-only numpy views, other printed dtypes)."""
    jax = sys.modules.get("jax")
    before = bool(jax.config.jax_enable_x64) if jax is not None else False
    yield
    jax = sys.modules.get("jax")
    if jax is not None and bool(jax.config.jax_enable_x64) != before:
        jax.config.update("jax_enable_x64", before)
        pytest.fail(f"{request.node.nodeid} left jax_enable_x64={not before}", pytrace=False)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation site, built once per test run by ``scripts/docs.sh`` (strict) and
    shared by every test (and every xdist worker) that reads it; a failed build fails each of
    them with the build's output."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, shared by the workers
    site, log, ok = root / "lrkit-site", root / "lrkit-site.log", root / "lrkit-site.ok"
    with open(root / "lrkit-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker builds, the others wait for it
        if not log.exists():
            proc = subprocess.run(["bash", "scripts/docs.sh", "--site-dir", str(site)],
                                  cwd=TESTS.parent, capture_output=True, text=True, timeout=600,
                                  env={**os.environ, "DOCS_PYTHON": sys.executable})
            log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
            if proc.returncode == 0:
                ok.touch()
    if not ok.exists():
        pytest.fail("bash scripts/docs.sh failed:\n" + log.read_text(encoding="utf-8"),
                    pytrace=False)
    return site

