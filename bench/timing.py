"""Timing helpers shared by the micro-benchmarks: the clock, medians and paired ratios, the load
now, and deterministic instruction counts under callgrind.

Instruction counts. On a machine shared with other jobs a timer measures the neighbours too;
``valgrind --tool=callgrind`` counts the instructions the process executes, which does not depend
on the load. ``callgrind_phases`` starts a child under callgrind with instrumentation off (imports
and set-up run at near-native speed), switches it on with ``callgrind_control -i on`` once the
child says ``ready``, and makes callgrind dump its counters each time the child calls ``mark()``
(``--dump-before=getppid``): the counts between two marks are the phase's instructions.
``PYTHONHASHSEED=0`` makes the child's dicts, and so its counts, the same in every run.
"""

from __future__ import annotations

import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

CLOCKS_NS = {"cpu": time.process_time_ns, "wall": time.perf_counter_ns}
CLOCKS_S = {"cpu": time.process_time, "wall": time.perf_counter}
CLOCK_TEXT = {
    "cpu": "process CPU time (time.process_time: leaves out the time spent waiting for a core "
    "on a shared machine, not the cache and memory contention)",
    "wall": "wall time (time.perf_counter)",
}


def load_now() -> str:
    """The 1, 5 and 15 minute load averages, as text."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """The median over repetitions of num[i] / den[i]: both were measured in the same repetition,
    so a slow moment of the machine cancels out of each ratio."""
    return median([a / b for a, b in zip(num, den, strict=True)])


def child_env() -> dict[str, str]:
    """The environment for a benchmark's child process: this one, with the repository root
    first on PYTHONPATH (so ``python -m bench...`` works from any directory) and
    ``PYTHONHASHSEED=0``."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, path) if p),
            "PYTHONHASHSEED": "0"}


# --- callgrind ----------------------------------------------------------------------------------


def callgrind_available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def mark() -> None:
    """A phase boundary for ``callgrind_phases`` (callgrind dumps its counters here)."""
    os.getppid()


def ready() -> None:
    """Say ``ready`` to ``callgrind_phases`` and wait until instrumentation is on."""
    print("ready", flush=True)
    sys.stdin.readline()


def callgrind_phases(args: Sequence[str], timeout: float = 1800.0) -> tuple[list[int], str]:
    """Run ``python args...`` under callgrind; the child calls ``ready()`` after its set-up,
    then ``mark()`` around each phase. Returns the instruction count of every phase between two
    marks (in order; the first is what ran between ``ready`` and the first mark) and the child's
    stdout after ``ready``."""
    with tempfile.TemporaryDirectory(prefix="lrkit-callgrind-") as tmp:
        out = Path(tmp) / "cg.out"
        env = child_env()
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-before=getppid",
               f"--callgrind-out-file={out}", sys.executable, *args]
        child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env)
        assert child.stdin is not None and child.stdout is not None
        line = child.stdout.readline()
        if line.strip() != "ready":
            child.kill()
            _, err = child.communicate()
            raise RuntimeError(f"callgrind child did not start: {line!r} {err[-2000:]}")
        switch = subprocess.run(["callgrind_control", "-i", "on", str(child.pid)],
                                capture_output=True, text=True, timeout=120, check=False)
        if switch.returncode != 0:
            child.kill()
            raise RuntimeError(f"callgrind_control failed: {switch.stdout} {switch.stderr}")
        stdout, stderr = child.communicate("go\n", timeout=timeout)
        if child.returncode != 0:
            raise RuntimeError(f"callgrind child failed ({child.returncode}): {stderr[-2000:]}")
        dumps = sorted(glob.glob(f"{out}.*"), key=lambda p: int(p.rsplit(".", 1)[1]))
        counts = [_total(p) for p in dumps]
    return counts, stdout


def _total(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    return 0
