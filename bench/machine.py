"""Describe the machine and the command a result came from, for the header of every report."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    """The first ``model name`` line of /proc/cpuinfo (or what platform knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(packages: tuple[str, ...] = ("torch", "numpy")) -> str:
    """A markdown bullet list: CPU, cores, load, OS, Python and package versions."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    lines = [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores visible "
        f"(load average at start: {load}; the machine is shared with other jobs)",
        f"- OS: {platform.system()} {platform.release()}, Python {platform.python_version()}",
        "- packages: " + ", ".join(f"{p} {_version(p)}" for p in packages),
    ]
    try:
        import torch

        lines.append(f"- torch threads: {torch.get_num_threads()}")
        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            names = sorted({torch.cuda.get_device_name(i) for i in range(count)})
            lines.append(f"- GPU: {', '.join(names)} (CUDA {torch.version.cuda})")
    except ImportError:
        pass
    return "\n".join(lines)


def command_line() -> str:
    """The command that produced this run, as it can be pasted into a shell."""
    module = sys.modules["__main__"].__spec__
    head = [".venv/bin/python", "-m", module.name] if module else [".venv/bin/python", sys.argv[0]]
    return shlex.join(head + sys.argv[1:])


def header(title: str, packages: tuple[str, ...] = ("torch", "numpy")) -> str:
    """The top of a results file: title, date, the exact command and the machine."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"# {title}\n\n"
        f"Produced by `{command_line()}` on {now}.\n\n"
        f"Machine:\n\n{describe(packages)}\n"
    )


def clock_ns(fn: Callable[[], object]) -> int:
    """Wall time of one call of ``fn`` in nanoseconds (perf_counter_ns)."""
    start = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - start


def write_report(out: Path, name: str, lines: list[str]) -> None:
    """Write ``lines`` as ``out/name`` (creating ``out``) and say where."""
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text("\n".join(lines))
    print(f"wrote {out / name}")
