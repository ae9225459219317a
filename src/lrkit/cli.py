"""The ``lrkit`` command: see a schedule before you train with it.

    lrkit plot SPEC [SPEC ...] --steps N [--base-lr X] [-o FILE.png|FILE.svg] [--log]
               [--branches AT[,AT...] --cooldown STEPS|P% [--shape S] [--end X]]
    lrkit table SPEC --steps N [--base-lr X] [--every K] [--format text|csv|markdown]
    lrkit show SPEC
    lrkit list

A SPEC is a spec string (``"warmup(cosine(steps=9000), steps=1000)"``) or ``@file`` (JSON, YAML
or a text file; see ``lrkit.specfile``). Every error is one ``lrkit: error: ...`` message on
stderr and exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import lrkit
from lrkit import _predict_cli  # lrkit predict (numpy/SciPy imported only when it runs)
from lrkit.schedules._base import Schedule

__all__ = ["main"]

EXIT_ERROR = 2

MAX_STEPS = 2**53
"""Largest ``--steps``: every step below it is an exact float."""
MAX_TABLE_ROWS = 1_000_000
"""Most rows ``lrkit table`` prints (``--every`` thins a longer run)."""
MAX_ROWS = 200
"""Tallest terminal chart, in lines (``--rows``)."""
MAX_COLUMNS = 1000
"""Widest terminal chart, in characters (a larger ``$COLUMNS`` is capped)."""
MAX_DPI = 1000

SPEC_HELP = (
    "a spec string such as 'warmup(cosine(steps=9000), steps=1000)', or @FILE: a .json/.yaml "
    "file (an lrkit dict, a spec string, or a mapping with a 'schedule' key) or a text file "
    "holding a spec string"
)


class CliError(Exception):
    """An error reported as ``lrkit: error: <message>`` with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with lrkit's one-line error format (still exit status 2)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"lrkit: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_ERROR)


# --- argument types ------------------------------------------------------------------------------


def _number(text: str) -> float:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number; got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = _number(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer > 0; got {text!r}") from None
    if not value.is_integer() or value <= 0:
        raise argparse.ArgumentTypeError(f"expected an integer > 0; got {text!r}")
    return int(value)


def _bounded_int(top: int, what: str) -> Callable[[str], int]:
    """An integer from 1 to ``top`` (argparse type)."""

    def parse(text: str) -> int:
        value = _positive_int(text)
        if value > top:
            raise argparse.ArgumentTypeError(
                f"expected an integer from 1 to {top:,}{what}; got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def _positive_float(text: str) -> float:
    try:
        value = _number(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text!r}")
    return value


def _pixels(text: str) -> int:
    value = _positive_int(text)
    if not 50 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"expected 50 to 10000 pixels; got {text!r}")
    return value


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        if len(parts) != 2:
            raise ValueError
        w, h = _positive_int(parts[0]), _positive_int(parts[1])
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT in pixels, e.g. 800x450; got {text!r}"
        ) from None
    if w < 50 or h < 50 or w > 10_000 or h > 10_000:
        raise argparse.ArgumentTypeError(f"each side must be 50 to 10000 pixels; got {text!r}")
    return w, h


# --- helpers -------------------------------------------------------------------------------------


def _load(arg: str) -> Schedule:
    from lrkit.specfile import load_schedule

    try:
        return load_schedule(arg)
    except lrkit.SpecError as exc:
        where = f"in {arg}: " if arg.startswith("@") else ""
        message = str(exc).removeprefix("invalid spec: ")
        raise CliError(f"bad spec: {where}{message}") from None


def _stateless(schedule: Schedule, verb: str) -> Schedule:
    if schedule.has_state:
        raise CliError(
            f"cannot {verb} {schedule}: plateau() lowers the rate when the metrics reported "
            "during training stop improving, so it has no fixed curve (drive it with "
            f"lrkit.Stepper, or {verb} the schedule without plateau)"
        )
    return schedule


def _rows(steps: int, every: int) -> range:
    """Steps ``0, every, 2*every, ...`` below ``steps`` (``ceil(steps / every)`` rows)."""
    return range(0, steps, every)


def _fmt_float(x: float) -> str:
    return repr(float(x))


def _fmt_duration(d: float | None) -> str:
    if d is None:
        return "unbounded (never reaches a final value)"
    return f"{_fmt_float(d)} steps (holds its final value from then on)"


# --- commands ------------------------------------------------------------------------------------


def _cmd_plot(args: argparse.Namespace) -> int:
    from lrkit import plot

    if args.output is not None:
        try:
            plot._output_format(args.output)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    schedules = [_stateless(_load(s), "plot") for s in args.specs]
    curves = plot.branch_curves(schedules, args.steps, args.base_lr, **_branch_options(args))
    for c in curves:
        _check_finite(c.label, c.xs, c.values)
    title = args.title
    if title is None and args.base_lr is not None:
        title = f"base lr {args.base_lr:g} x schedule"
    if args.output is None:
        size = shutil.get_terminal_size(fallback=(100, 24))
        height = args.rows if args.rows else max(12, min(size.lines - 2, 30))
        width = max(40, min(size.columns, MAX_COLUMNS))  # a huge $COLUMNS is capped
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(plot.terminal_chart(
            curves, log=args.log, width=width, height=height, color=color, title=title
        ))
        return 0
    width = args.width if args.width is not None else args.size[0]
    height = args.height if args.height is not None else args.size[1]
    try:
        plot.plot_schedules(curves, args.output, log=args.log, width=width, height=height,
                            dpi=args.dpi, title=title)
    except OSError as exc:
        raise CliError(exc.strerror or str(exc)) from None
    print(f"wrote {args.output} ({width}x{height} pixels)")
    return 0


def _branch_options(args: argparse.Namespace) -> dict[str, Any]:
    """``lrkit plot``'s --branches/--cooldown/--shape/--end as ``plot.branch_curves`` keywords."""
    cooldown: float | None = None
    fraction: float | None = None
    if args.cooldown is not None:
        text = args.cooldown.strip()
        try:
            if text.endswith("%"):
                fraction = _number(text[:-1]) / 100
                if not 0 < fraction < 1:
                    raise argparse.ArgumentTypeError
            else:
                cooldown = _number(text)
                if cooldown < 0:
                    raise argparse.ArgumentTypeError
        except argparse.ArgumentTypeError:
            raise CliError(f"--cooldown: expected a number of steps >= 0 or a percentage "
                           f"between 0% and 100% such as 20%; got {args.cooldown!r}") from None
    if args.branches is None:
        extra = [o for o, v in (("--cooldown", args.cooldown), ("--shape", args.shape),
                                ("--end", args.end)) if v is not None]
        if extra:
            verb = "describes" if len(extra) == 1 else "describe"
            raise CliError(f"{', '.join(extra)} {verb} cooldown branches: give --branches "
                           "AT[,AT...] too")
        return {}
    if args.cooldown is None:
        raise CliError("--branches needs --cooldown STEPS (or a share of the run, e.g. 20%)")
    try:
        ats = [_number(a) for a in args.branches.split(",")]
    except argparse.ArgumentTypeError:
        raise CliError(f"--branches: expected steps separated by commas, e.g. 4000,8000; got "
                       f"{args.branches!r}") from None
    return {"branches": ats, "cooldown": cooldown, "fraction": fraction,
            "shape": args.shape or "1-sqrt", "end": 0.0 if args.end is None else args.end}


def _check_finite(label: str, steps: Sequence[int], values: Sequence[float]) -> None:
    for t, v in zip(steps, values, strict=True):
        if not math.isfinite(v):
            raise CliError(f"cannot show {label}: the rate at step {t} is {v!r} (--base-lr "
                           "times the schedule overflows); use a smaller --base-lr")


def _cmd_table(args: argparse.Namespace) -> int:
    schedule = _stateless(_load(args.spec), "tabulate")
    base = args.base_lr
    out = sys.stdout
    rows = _rows(args.steps, args.every)
    if len(rows) > MAX_TABLE_ROWS:
        raise CliError(
            f"--steps {args.steps} --every {args.every} makes {len(rows):,} rows; the table "
            f"prints at most {MAX_TABLE_ROWS:,}: use --every {-(-args.steps // MAX_TABLE_ROWS)} "
            "or more, or fewer --steps"
        )

    def value(t: int) -> str:
        v = float(schedule(t))
        v = v if base is None else base * v
        if not math.isfinite(v):
            _check_finite(str(schedule), [t], [v])
        return _fmt_float(v)

    if args.format == "csv":
        out.write("step,lr\n")
        for t in rows:
            out.write(f"{t},{value(t)}\n")
    elif args.format == "markdown":
        out.write("| step | lr |\n| ---: | ---: |\n")
        for t in rows:
            out.write(f"| {t} | {value(t)} |\n")
    else:
        width = len(str(rows[-1]))
        out.write(f"{'step':>{max(width, 4)}}  lr\n")
        for t in rows:
            out.write(f"{t:>{max(width, 4)}}  {value(t)}\n")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    schedule = _load(args.spec)
    if args.json:
        print(json.dumps(schedule.to_dict(), indent=2))
        return 0
    bps = schedule.breakpoints()
    lines = [
        f"spec:        {schedule}",
        f"type:        {schedule.name}",
        f"duration:    {_fmt_duration(schedule.duration)}",
        "breakpoints: " + (", ".join(_fmt_float(b) for b in bps) if bps else "none"),
    ]
    if schedule.has_state:
        lines.append("stateful:    yes: contains plateau(), driven by reported metrics")
    else:
        lines.append(f"s(0):        {_fmt_float(schedule(0))}")
        if schedule.duration is not None:
            lines.append(f"final:       {_fmt_float(schedule(schedule.duration))}")
    lines.append("dict:        " + json.dumps(schedule.to_dict()))
    print("\n".join(lines))
    return 0


def _summary(cls: type[Schedule]) -> str:
    """The first paragraph of the class docstring, on one line (the formula)."""
    doc = (cls.__doc__ or "").strip()
    first = doc.split("\n\n", 1)[0]
    return " ".join(first.split()).replace("``", "")


def _signature(name: str, cls: type[Schedule]) -> str:
    import dataclasses

    parts = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING:
            shown = json.dumps(f.default) if isinstance(f.default, str) else repr(f.default)
            parts.append(f"{f.name}={shown}")
        elif f.default_factory is not dataclasses.MISSING:
            parts.append(f"{f.name}=...")
        else:
            parts.append(f.name)
    return f"{name}({', '.join(parts)})"


def _cmd_list(args: argparse.Namespace) -> int:
    reg = lrkit.registry()
    names = sorted(reg)
    width = max(len(n) for n in names)
    for name in names:
        cls = reg[name]
        print(f"{name:<{width}}  {_summary(cls)}")
        if args.verbose:
            print(f"{'':<{width}}  {_signature(name, cls)}")
    return 0


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lrkit",
        description="See a learning-rate schedule before you train with it: chart it, tabulate "
        "it, check its spec.",
        epilog="Examples:\n"
        "  lrkit plot 'warmup(cosine(steps=9000), steps=1000)' --steps 10000 --base-lr 3e-4\n"
        "  lrkit plot 'cosine(steps=100)' 'step_decay(30)' --steps 100 -o cmp.png --log\n"
        "  lrkit table @config.yaml --steps 1000 --every 100 --format csv\n"
        "  lrkit list",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lrkit {lrkit.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--steps", type=_bounded_int(MAX_STEPS, " (2**53)"), required=True,
                       metavar="N", help="number of optimizer steps to show (t = 0..N-1), at "
                       "most 2**53")
        p.add_argument("--base-lr", type=_positive_float, default=None, metavar="X",
                       help="multiply the (unitless) schedule by this rate")

    p = sub.add_parser("plot", help="chart one or more schedules (PNG, SVG or in the terminal)",
                       description="Draw the schedules on one chart: to a PNG or SVG file with "
                       "-o, else in the terminal. Phase boundaries are dashed lines.")
    p.add_argument("specs", nargs="+", metavar="SPEC", help=SPEC_HELP)
    common(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the chart to FILE (.png or .svg); default: draw in the terminal")
    p.add_argument("--log", action="store_true", help="logarithmic learning-rate axis")
    p.add_argument("--size", type=_size, default=(800, 450), metavar="WxH",
                   help="image size in pixels (default 800x450)")
    p.add_argument("--width", type=_pixels, default=None, metavar="W",
                   help="image width in pixels (overrides --size)")
    p.add_argument("--height", type=_pixels, default=None, metavar="H",
                   help="image height in pixels (overrides --size)")
    p.add_argument("--dpi", type=_bounded_int(MAX_DPI, ""), default=100,
                   help=f"image resolution, at most {MAX_DPI} (default 100)")
    p.add_argument("--title", default=None, help="chart title")
    p.add_argument("--rows", type=_bounded_int(MAX_ROWS, " lines"), default=None, metavar="R",
                   help=f"terminal chart height in lines, 1 to {MAX_ROWS} (default: fits the "
                   f"terminal; the width is the terminal's, at most {MAX_COLUMNS} columns)")
    b = p.add_argument_group(
        "branches", "cooldowns branched off the first SPEC (the trunk, drawn in grey); each "
        "branch is drawn from its branch point on. A later SPEC that is a cooldown() or "
        "splice() of the first is drawn as a branch too.")
    b.add_argument("--branches", default=None, metavar="AT[,AT...]",
                   help="branch a cooldown off the first SPEC at each of these steps")
    b.add_argument("--cooldown", default=None, metavar="STEPS|P%",
                   help="each cooldown's length in steps, or P%% of the branched run (at + "
                   "length; 20%% gives at / 4 steps, Hagele et al. 2024)")
    b.add_argument("--shape", default=None, choices=("1-sqrt", "linear", "cosine", "exp"),
                   help="cooldown shape (default 1-sqrt)")
    b.add_argument("--end", type=_number, default=None, metavar="X",
                   help="rate each cooldown ends at, relative (default 0)")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("table", help="print the rate at every K-th step",
                       description="Print base_lr * s(t) for t = 0, K, 2K, ... < N, with full "
                       f"float precision (repr); at most {MAX_TABLE_ROWS:,} rows (raise --every "
                       "for a longer run).")
    p.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    common(p)
    p.add_argument("--every", type=_positive_int, default=1, metavar="K",
                   help="print steps 0, K, 2K, ... below N (default 1: every step)")
    p.add_argument("--format", choices=("text", "csv", "markdown"), default="text",
                   help="output format (default text; csv header: step,lr)")
    p.set_defaults(func=_cmd_table)

    p = sub.add_parser("show", help="canonical spec, dict, duration and phase boundaries",
                       description="Print the canonical spec string, the duration, the phase "
                       "boundaries and the dict form of a schedule.")
    p.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    p.add_argument("--json", action="store_true",
                   help="print only the dict, as JSON (a spec file for @FILE)")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("list", help="every schedule name with its formula",
                       description="Every schedule a spec can use, with its formula.")
    p.add_argument("-v", "--verbose", action="store_true", help="also show the parameters")
    p.set_defaults(func=_cmd_list)

    predict = _predict_cli.add_parser(sub, SPEC_HELP, _positive_int, _positive_float)
    predict.set_defaults(func=lambda a: _predict_cli.run(a, _load))
    return parser


def _fail(message: str) -> int:
    sys.stderr.write(f"lrkit: error: {message.rstrip()}\n")
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lrkit`` command; returns the exit status (0, or 2 after an error message)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
        if func is None:
            return _fail("missing command: choose one of plot, table, show, list, predict "
                         "(see 'lrkit --help')")
        return func(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("lrkit: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (lrkit table ... | head): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except CliError as exc:
        return _fail(str(exc))
    except _predict_cli.PredictError as exc:
        return _fail(str(exc))
    except (ValueError, OSError, ImportError, TypeError) as exc:
        return _fail(str(exc) or type(exc).__name__)
    except Exception as exc:  # never a traceback; say what happened
        return _fail(f"unexpected {type(exc).__name__}: {exc}")
