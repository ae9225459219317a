"""lrkit: learning-rate schedules written once, numerically identical in PyTorch, JAX/optax and
Keras.

A schedule is an immutable value; ``s(t)`` gives the (unitless) rate after ``t`` scheduler
steps, in closed form, for Python numbers, numpy, torch and jax alike::

    import lrkit as lk
    s = lk.warmup(lk.cosine(steps=9000, end=0.01), steps=1000, start=0.001)
    s(0), s(1000), s(10_000)
    str(s) == "warmup(cosine(steps=9000, end=0.01), steps=1000, start=0.001)"

``import lrkit`` imports no framework; ``lrkit.torch`` and ``lrkit.keras`` are the opt-in.
"""

from __future__ import annotations

from lrkit._silence import NoMetricWarning
from lrkit.schedules import (
    Add,
    BatchRampup,
    Constant,
    Cooldown,
    Cosine,
    CosineRestarts,
    Cyclic,
    Exponential,
    InverseSqrt,
    InverseTime,
    Join,
    Linear,
    Maximum,
    Minimum,
    Mul,
    Multistep,
    OneCycle,
    Plateau,
    PlateauState,
    Polynomial,
    Pow,
    Schedule,
    Shift,
    Splice,
    Staircase,
    StatefulScheduleError,
    StepDecay,
    UntunedWarmup,
    Warmup,
    WarmupFactor,
    Wsd,
    registry,
)
from lrkit.spec import SpecError, format_spec, from_dict, parse
from lrkit.stepper import SpecMismatchWarning, Stepper

__version__ = "0.3.0"

# The constructors of DESIGN.md: lower-case names for the schedule classes.
constant = Constant
linear = Linear
step_decay = StepDecay
multistep = Multistep
exponential = Exponential
polynomial = Polynomial
cosine = Cosine
cosine_restarts = CosineRestarts
one_cycle = OneCycle
cyclic = Cyclic
inverse_sqrt = InverseSqrt
inverse_time = InverseTime
wsd = Wsd
warmup = Warmup
join = Join
shift = Shift
staircase = Staircase
maximum = Maximum
minimum = Minimum
plateau = Plateau
untuned_warmup = UntunedWarmup
warmup_factor = WarmupFactor
cooldown = Cooldown
splice = Splice
batch_rampup = BatchRampup

__all__ = [
    "Add",
    "BatchRampup",
    "Constant",
    "Cooldown",
    "Cosine",
    "CosineRestarts",
    "Cyclic",
    "Exponential",
    "InverseSqrt",
    "InverseTime",
    "Join",
    "Linear",
    "Maximum",
    "Minimum",
    "Mul",
    "Multistep",
    "NoMetricWarning",
    "OneCycle",
    "Plateau",
    "PlateauState",
    "Polynomial",
    "Pow",
    "Schedule",
    "Shift",
    "SpecError",
    "SpecMismatchWarning",
    "Splice",
    "Staircase",
    "StatefulScheduleError",
    "StepDecay",
    "Stepper",
    "UntunedWarmup",
    "Warmup",
    "WarmupFactor",
    "Wsd",
    "__version__",
    "batch_rampup",
    "constant",
    "cooldown",
    "cosine",
    "cosine_restarts",
    "cyclic",
    "exponential",
    "format_spec",
    "from_dict",
    "inverse_sqrt",
    "inverse_time",
    "join",
    "linear",
    "maximum",
    "minimum",
    "multistep",
    "one_cycle",
    "parse",
    "plateau",
    "polynomial",
    "registry",
    "shift",
    "splice",
    "staircase",
    "step_decay",
    "untuned_warmup",
    "warmup",
    "warmup_factor",
    "wsd",
]
