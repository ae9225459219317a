"""``batch_rampup`` against Megatron-LM's own calculator, and the per-stage LR rules built with
``**``.

The oracle is ``RampupBatchsizeNumMicroBatchesCalculator`` from megatron-core's
``megatron/core/num_microbatches_calculator.py`` (the PyPI package, pinned in constraints.txt
and installed without its dependencies by scripts/setup-env.sh). That one module imports only the
standard library, so it is loaded from the installed file without running ``megatron.core``'s
package ``__init__`` (which imports torch and much more).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
from functools import cache
from typing import Any

import numpy as np
import pytest
from _schedules import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit as lk


@cache
def _megatron() -> Any:
    try:
        dist = importlib.metadata.distribution("megatron-core")
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(
            "megatron-core is not installed (scripts/setup-env.sh installs it with --no-deps)"
        ) from None
    path = dist.locate_file("megatron/core/num_microbatches_calculator.py")
    spec = importlib.util.spec_from_file_location("_megatron_num_microbatches", str(path))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Megatron:
    """Megatron's calculator for ``--rampup-batch-size start increment samples`` and
    ``--global-batch-size end`` (micro-batch 1, one data-parallel rank: any divisor would do, the
    global batch size does not depend on them)."""

    def __init__(self, start: int, increment: int, samples: int, end: int) -> None:
        self.calc = _megatron().RampupBatchsizeNumMicroBatchesCalculator(
            end, 1, 1, False, 1, start, increment, samples
        )

    def __call__(self, consumed: int) -> int:
        self.calc.update(consumed, False)
        out: int = self.calc.get_current_global_batch_size()
        return out


CONFIGS = [
    (32, 32, 1000, 1024),
    (16, 16, 300_000, 1536),  # GPT-3 175B's increments (its ramp is 5,859,375 samples)
    (1, 1, 997, 64),  # samples not a multiple of the increments
    (8, 8, 1000, 16),  # one increment
    (4, 2, 7, 1000),  # fewer samples than increments: several increments per sample
    (1, 1, 9, 8),  # Megatron's float division: at t = samples, 9 / (9 / 7) < 7
    (4, 4, 56, 388),  # ... and mid-ramp: 35 / (56 / 96) < 60
    (256, 256, 123_457, 4096),
]


def _every_count(config: tuple[int, int, int, int]) -> np.ndarray:
    samples = config[2]
    return np.arange(0, samples + 2 * max(samples // 10, 3) + 1)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_every_sample_count_matches_megatron(config: tuple[int, int, int, int]) -> None:
    meg = Megatron(*config)
    s = lk.batch_rampup(*config)
    counts = _every_count(config)
    want = np.array([meg(int(c)) for c in counts], dtype=np.float64)
    scalar = np.array([s(int(c)) for c in counts])  # the driver's path: Python ints
    bad = np.flatnonzero(scalar != want)
    assert not bad.size, f"{s} at {counts[bad[0]]}: {scalar[bad[0]]}, Megatron {want[bad[0]]}"
    vec = s(counts.astype(np.float64))
    np.testing.assert_array_equal(vec, want)
    assert s(float(config[2])) == meg(config[2])  # the last sample of the ramp, as a float


def test_the_float_division_quirk_is_megatron_s() -> None:
    """Megatron divides in floating point: ``int(9 / (9 / 7))`` is 6, so one sample before the
    end of the ramp the batch is still one increment short, where exact arithmetic says 7."""
    assert Megatron(1, 1, 9, 8)(9) == 7 and lk.batch_rampup(1, 1, 9, 8)(9) == 7.0
    assert Megatron(4, 4, 56, 388)(35) == 4 + 4 * 59
    assert lk.batch_rampup(4, 4, 56, 388)(35) == 4 + 4 * 59


@settings(max_examples=examples(60), deadline=None)
@given(
    start=st.integers(1, 4096),
    increment=st.integers(1, 512),
    n=st.integers(1, 200),
    samples=st.one_of(st.integers(1, 10**6), st.integers(1, 10**12)),
    data=st.data(),
)
def test_random_ramps_at_random_counts(
    start: int, increment: int, n: int, samples: int, data: st.DataObject
) -> None:
    end = start + n * increment
    meg = Megatron(start, increment, samples, end)
    s = lk.batch_rampup(start, increment, samples, end)
    counts = data.draw(st.lists(st.integers(0, 3 * samples), min_size=20, max_size=60))
    per = samples / n
    near = [max(0, math.floor(k * per) + d) for k in range(1, n + 1, max(1, n // 16))
            for d in (-1, 0, 1)]
    counts += [*near, samples - 1, samples, samples + 1, 10**15]
    for c in counts:
        assert s(c) == meg(c), f"{s} at {c}: {s(c)}, Megatron {meg(c)}"
    np.testing.assert_array_equal(s(np.array(counts, dtype=np.float64)),
                                  [meg(c) for c in counts])


def test_gpt3_ramp_at_its_thresholds() -> None:
    """Megatron-LM's GPT-3 175B example (examples/gpt3/train_gpt3_175b_distributed.sh until
    April 2026): 16 -> 1536 in increments of 16 over 5,859,375 samples (12 billion tokens of
    2048), checked around every increment and at random counts."""
    config = (16, 16, 5_859_375, 1536)
    meg, s = Megatron(*config), lk.batch_rampup(*config)
    per = config[2] / 95
    counts = sorted({max(0, math.floor(k * per) + d) for k in range(96) for d in range(-2, 3)}
                    | set(np.random.default_rng(0).integers(0, 10**8, 500).tolist()))
    want = [meg(c) for c in counts]
    assert [s(c) for c in counts] == want
    np.testing.assert_array_equal(s(np.array(counts, dtype=np.float64)), want)
    assert s.duration == 5_859_375 and s(s.duration) == 1536


# --- every array family, float32 under compilers included -----------------------------------

FAMILY_CONFIGS = [(32, 32, 1000, 1024), (1, 1, 9, 8), (4, 4, 56, 388), (4, 2, 7, 1000),
                  (16, 16, 5_859_375, 1536)]


def _counts32(config: tuple[int, int, int, int]) -> np.ndarray:
    """Integer and half counts float32 holds exactly: every one over short ramps, and around
    each increment over GPT-3's."""
    samples, n = config[2], (config[3] - config[0]) // config[1]
    if samples <= 5000:
        return np.arange(0, 2 * samples + 20, 0.5)
    per = samples / n
    near = {k * per + d for k in range(n + 1) for d in np.arange(-2, 2.5, 0.5)}
    out = np.array(sorted(x for x in {math.floor(2 * x) / 2 for x in near} if x >= 0))
    return out[out.astype(np.float32) == out]


def _megatron_at(config: tuple[int, int, int, int], t: np.ndarray) -> np.ndarray:
    """Megatron's batch size at real (possibly fractional) counts: its formula on floats, the
    calculator itself at the integers."""
    meg = Megatron(*config)
    start, increment, samples, end = config
    per = meg.calc.rampup_samples_per_increment
    out = np.array([end if x > samples else start + increment * int(x / per) for x in t])
    ints = t == np.floor(t)
    np.testing.assert_array_equal(out[ints], [meg(int(x)) for x in t[ints]])
    return out.astype(np.float64)


@pytest.mark.parametrize("config", FAMILY_CONFIGS, ids=str)
def test_torch_and_jax_are_exact_in_float32(config: tuple[int, int, int, int]) -> None:
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    s = lk.batch_rampup(*config)
    t = _counts32(config)
    want = _megatron_at(config, t)
    for dtype in (torch.float32, torch.float64):
        np.testing.assert_array_equal(s(torch.tensor(t, dtype=dtype)).double().numpy(), want)
    ints = t[t == np.floor(t)]
    got = s(torch.tensor(ints, dtype=torch.int64))
    assert got.dtype == torch.get_default_dtype()
    np.testing.assert_array_equal(got.double().numpy(), _megatron_at(config, ints))
    jitted = jax.jit(lambda x: s(x))
    np.testing.assert_array_equal(np.asarray(jitted(jnp.asarray(t, dtype=jnp.float32))), want)
    np.testing.assert_array_equal(np.asarray(s(jnp.asarray(t, dtype=jnp.float32))), want)
    assert float(jitted(jnp.float32(config[2] + 1))) == config[3]


def test_torch_compile_inductor_is_exact() -> None:
    """Inductor may turn ``t / per`` into ``t * (1 / per)``: the thresholds are compared, never
    divided, so the stage changes at Megatron's sample in float32."""
    torch = pytest.importorskip("torch")
    torch._dynamo.reset()
    config = (4, 4, 56, 388)
    ramp = lk.batch_rampup(*config)
    lr = 0.1 * lk.cosine(200) * (ramp * (1 / 388)) ** 0.5
    f = torch.compile(lambda t: (ramp(t), lr(t)), fullgraph=True)
    t = _counts32(config)
    got_ramp, got_lr = f(torch.tensor(t, dtype=torch.float32))
    want = _megatron_at(config, t)
    np.testing.assert_array_equal(got_ramp.double().numpy(), want)
    ref = 0.1 * lk.cosine(200)(t) * np.sqrt(want / 388)
    np.testing.assert_allclose(got_lr.double().numpy(), ref, rtol=2e-6, atol=1e-9)
    one = f(torch.tensor(35.0))[0]  # a 0-d step, as a compiled optimizer step uses
    assert one.shape == () and float(one) == 4 + 4 * 59


def test_scalar_path_is_megatron_s_formula() -> None:
    s = lk.batch_rampup(32, 32, 1000, 1024)
    src = s.scalar_path()[0].__doc__
    assert "batch_rampup" not in src and "._eval(" not in src  # compiled, not a call
    for t in (0.0, 32.25, 32.258064516129032, 500.5, 999.999, 1000.0, 1000.0000000000001, 1e18):
        assert s(t) == s._generic_scalar(t) == float(Megatron(32, 32, 1000, 1024)(t))  # type: ignore[arg-type]


# --- the LR rules: linear (Goyal et al. 2017) and square root, per stage --------------------


def _stage_lr(peak: float, base: float, batch: int, end: int, p: float) -> float:
    """The per-stage rule written out: the rate tuned for the final batch ``end``, scaled by
    (batch / end) ** p for the stage's batch."""
    return peak * base * (batch / end) ** p


@pytest.mark.parametrize("p", [0.5, 1])
@pytest.mark.parametrize("config", [(32, 32, 10_000, 1024), (16, 16, 300_000, 1536)], ids=str)
def test_lr_rescaled_per_stage(config: tuple[int, int, int, int], p: float) -> None:
    samples, end = config[2], config[3]
    base = lk.warmup(lk.cosine(4 * samples, end=0.1), samples // 4)
    lr = 3e-4 * base * (lk.batch_rampup(*config) * (1 / end)) ** p
    assert lk.parse(str(lr)) == lr
    meg = Megatron(*config)
    counts = [*range(0, 2 * samples, max(1, samples // 997)), samples, 4 * samples, 10**9]
    for c in counts:
        want = _stage_lr(3e-4, base(c), meg(c), end, p)
        assert lr(c) == pytest.approx(want, rel=1e-12, abs=0), c
    np.testing.assert_allclose(lr(np.array(counts, dtype=np.float64)),
                               [_stage_lr(3e-4, base(c), meg(c), end, p) for c in counts],
                               rtol=1e-12, atol=0)
    if p == 1:  # the linear rule is a product: exactly base * batch / end
        assert all(lr(c) == 3e-4 * base(c) * (meg(c) * (1 / end)) for c in counts)


def test_stage_schedule_with_sqrt_rule() -> None:
    """nanochat's ramp (1/4 of the batch for the first 3% of the tokens, 1/2 for the next 7%,
    then all of it, with the square-root rule per stage) is a join of constants: ``**`` does not
    depend on Megatron's ramp."""
    total = 10_000_000
    fraction = lk.join([lk.constant(0.25), lk.constant(0.5), lk.constant(1.0)],
                       [0.03 * total, 0.10 * total])
    lr = 0.02 * lk.cosine(total) * fraction**0.5
    for t in [0, 299_999, 300_000, 650_000, 999_999, 1_000_000, 5_000_000]:
        stage = 0.25 if t < 300_000 else 0.5 if t < 1_000_000 else 1.0
        want = 0.02 * 0.5 * (1 + math.cos(math.pi * t / total)) * math.sqrt(stage)
        assert lr(t) == pytest.approx(want, rel=1e-12)


# --- the power node -------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0, 0.5, 1, 2, 0.25, 1.5, 3.0])
def test_power_against_math(p: float) -> None:
    base = lk.linear(0.0, 4.0, 100)
    s = base**p
    t = np.arange(0.0, 120.0, 0.5)
    want = np.array([math.pow(base(float(x)), p) for x in t])
    np.testing.assert_allclose([s(float(x)) for x in t], want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(s(t), want, rtol=1e-15, atol=0)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(s(torch.tensor(t)).numpy(), want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(s(torch.tensor(t, dtype=torch.float32)).double().numpy(), want,
                               rtol=1e-6, atol=1e-7)


def test_power_exact_cases() -> None:
    """** 1 is the schedule itself and ** 0.5 a square root, bit for bit, in every family."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("jax")
    import jax.numpy as jnp

    base = lk.cosine(100, end=0.01) * 7.0
    t = np.arange(0.0, 130.0, 0.25)
    for tt, sqrt in ((t, np.sqrt), (torch.tensor(t, dtype=torch.float32), torch.sqrt),
                     (jnp.asarray(t, dtype=jnp.float32), jnp.sqrt)):
        x = base(tt)
        assert np.array_equal(np.asarray((base**1)(tt)), np.asarray(x))
        assert np.array_equal(np.asarray((base**2)(tt)), np.asarray(x * x))
        assert np.array_equal(np.asarray((base**0.5)(tt)), np.asarray(sqrt(x)))
        assert np.all(np.asarray((base**0)(tt)) == 1.0)
    assert (lk.constant(0.0) ** 0)(3) == 1.0  # 0 ** 0 = 1, as Python, numpy and C say


def test_a_power_beyond_the_largest_rate_is_refused() -> None:
    """Every valid schedule is finite: a power that can pass float32's largest is refused."""
    with pytest.raises(ValueError, match=r"pow: constant\(value=1e\+30\) \*\* 2 can reach"):
        lk.constant(1e30) ** 2
    s = lk.constant(1e19) ** 2  # 1e38: still a rate
    assert s(0) == pytest.approx(1e38, rel=1e-12) and np.isfinite(s(np.zeros(3))).all()


def test_power_structure() -> None:
    c = lk.cosine(100)
    assert (c**2).duration == 100 and (lk.constant(2.0) ** 2).duration is None
    assert (lk.constant(2.0) ** 2).is_constant
    w = lk.warmup(c, 10) ** 0.5
    assert w.breakpoints() == lk.warmup(c, 10).breakpoints()
    assert (c**2).to_dict() == {"type": "pow", "base": {"type": "cosine", "steps": 100,
                                                         "start": 1.0, "end": 0.0,
                                                         "exponent": 1.0, "k_decay": 1.0},
                                "exponent": 2, "format_version": 2}


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("cosine(steps=10) ** 2", None),
        ("cosine(steps=10) ** 0.5", None),
        ("(cosine(steps=10) * 0.5) ** 0.5", None),
        ("0.5 * cosine(steps=10) ** 2", None),
        ("(cosine(steps=10) ** 2) ** 3", None),
        ("(cosine(steps=10) + 0.5) ** 2 + 0.1", None),
        ("linear(0.0, 1.0, 10) ** 2 >> constant(0.1)",
         "linear(start=0.0, end=1.0, steps=10) ** 2 >> constant(value=0.1)"),
        ("pow(cosine(steps=10), 1.5)", "cosine(steps=10) ** 1.5"),
        ("pow(cosine(steps=10), exponent=1.0)", "cosine(steps=10) ** 1"),
        ("2.0 ** 0.5 * cosine(steps=10)", None),
        ("batch_rampup(32, 32, 1000, 1024)",
         "batch_rampup(start=32, increment=32, samples=1000, end=1024)"),
    ],
)
def test_power_text_round_trips(text: str, canonical: str | None) -> None:
    s = lk.parse(text)
    assert str(s) == (canonical or text)
    assert lk.parse(str(s)) == s
    assert lk.from_dict(s.to_dict()) == s


def test_power_binds_like_python() -> None:
    """``a * b ** 2`` squares b only; ``(a * b) ** 2`` squares the product."""
    a, b = lk.cosine(10), lk.linear(1.0, 3.0, 10)
    assert lk.parse("cosine(steps=10) * linear(1.0, 3.0, 10) ** 2") == a * b**2
    assert lk.parse("(cosine(steps=10) * linear(1.0, 3.0, 10)) ** 2") == (a * b) ** 2
    assert str(a * b**2) == "cosine(steps=10) * linear(start=1.0, end=3.0, steps=10) ** 2"
    assert str((a * b) ** 2) == "(cosine(steps=10) * linear(start=1.0, end=3.0, steps=10)) ** 2"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("cosine(steps=10) ** -1", ["exponent", "-1"]),
        ("cosine(steps=10) ** nan", ["nan"]),
        ("cosine(steps=10) ** cosine(steps=3)", ["exponent", "number"]),
        ("cosine(steps=10) ** True", ["exponent", "number"]),
        ("cosine(steps=10) ** 2 ** 3", ["exponent", "number"]),
        ("cosine(steps=10) ** \"2\"", ["exponent", "number"]),
        ("cosine(steps=10) % 2", ["**"]),
    ],
)
def test_power_errors(text: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        lk.parse(text)
    for w in words:
        assert w in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: 2 ** lk.cosine(10),
        lambda: lk.cosine(10) ** lk.cosine(3),
        lambda: lk.cosine(10) ** "2",
        lambda: lk.cosine(10) ** True,
        lambda: pow(lk.cosine(10), 2, 3),
        lambda: lk.cosine(10) ** -0.5,
        lambda: lk.cosine(10) ** math.inf,
    ],
)
def test_power_bad_operands_are_value_errors(call: Any) -> None:
    with pytest.raises(ValueError):
        call()


def test_every_family_counts_thresholds_alike() -> None:
    """``count_reached`` (the namespace operation behind the array families): the number of
    thresholds ``<= t``, by bisect, in every family; float32 against the rounded-up table."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("jax")
    import jax.numpy as jnp

    from lrkit._xp import PY, namespace_of
    from lrkit.schedules.batch import _thresholds

    f64, f32 = _thresholds(56, 96)
    t = np.arange(0.0, 60.0, 0.125)
    want = np.array([sum(1 for b in f64 if b <= x) for x in t], dtype=np.float64)
    assert [PY.count_reached(float(x), f64, f32) for x in t] == want.tolist()
    np.testing.assert_array_equal(namespace_of(t).count_reached(t, f64, f32), want)
    for x in (torch.tensor(t), torch.tensor(t, dtype=torch.float32),
              jnp.asarray(t, dtype=jnp.float32)):
        got = namespace_of(x).count_reached(x, f64, f32)
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(np.asarray(got, dtype=np.float64), want)
    assert all(b32 >= b and np.float32(b32) == b32 for b, b32 in zip(f64, f32, strict=True))
