"""Schedule families; each module registers its constructors in the one registry."""

from lrkit.schedules._base import Schedule, StatefulScheduleError
from lrkit.schedules._registry import registry
from lrkit.schedules.algebra import Add, Maximum, Minimum, Mul, Pow
from lrkit.schedules.basic import Constant, Linear
from lrkit.schedules.batch import BatchRampup
from lrkit.schedules.compose import Join, UntunedWarmup, Warmup, WarmupFactor
from lrkit.schedules.cyclic import CosineRestarts, Cyclic, OneCycle
from lrkit.schedules.decay import (
    Cosine,
    Exponential,
    InverseSqrt,
    InverseTime,
    Multistep,
    Polynomial,
    StepDecay,
)
from lrkit.schedules.plateau import Plateau, PlateauState
from lrkit.schedules.replan import Cooldown, Splice
from lrkit.schedules.retime import Shift, Staircase
from lrkit.schedules.wsd import Wsd

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
    "OneCycle",
    "Plateau",
    "PlateauState",
    "Polynomial",
    "Pow",
    "Schedule",
    "Shift",
    "Splice",
    "Staircase",
    "StatefulScheduleError",
    "StepDecay",
    "UntunedWarmup",
    "Warmup",
    "WarmupFactor",
    "Wsd",
    "registry",
]
