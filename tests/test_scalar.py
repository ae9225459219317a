"""The specialised scalar path (lrkit.schedules._scalar) against the generic Python path.

``s(t)`` on a float runs one generated function per schedule; the generic path (``_eval``
through the ``PY`` namespace, tested against the formulas in test_formulas.py) is the reference.
Both perform the same float operations, so they must agree *exactly*, on every tree, at every
step, with and without plateau states.
"""

from __future__ import annotations

import copy
import math
import pickle
import random

import pytest
from _schedules import examples, horizon, trees
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit as lk


def _steps(s: lk.Schedule, data: st.DataObject) -> list[float]:
    h = horizon(s)
    edges = [b + d for b in s.breakpoints()[:20] for d in (-1.0, -0.5, 0.0, 1e-9, 0.5, 1.0)]
    ints = data.draw(st.lists(st.integers(0, int(2 * h) + 3), min_size=5, max_size=30))
    fracs = data.draw(st.lists(st.floats(0.0, 2 * h + 3), min_size=3, max_size=10))
    far = [10 * h, 2.0**31, 2.0**40 + 0.5, 1e15]
    return [x for x in [0.0, 1.0, *map(float, ints), *fracs, *edges, *far] if x >= 0]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=examples(400))
@given(trees(max_leaves=8), st.data())
def test_specialised_equals_generic_on_random_trees(s: lk.Schedule, data: st.DataObject) -> None:
    for t in _steps(s, data):
        fast, generic = s(t), s._generic_scalar(t)
        assert type(fast) is float
        assert _same(fast, generic), f"{s} at t={t!r}: specialised {fast!r}, generic {generic!r}"
        assert s(int(t)) == s._generic_scalar(float(int(t)))


@settings(max_examples=examples(150))
@given(trees(max_leaves=8, stateful=True), st.data())
def test_specialised_equals_generic_with_plateau_states(
    s: lk.Schedule, data: st.DataObject
) -> None:
    states = s._initial_states()
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    for _ in range(4):
        for state in states:
            state.reductions = rng.randrange(0, 40)
        for t in _steps(s, data):
            fast, generic = s.evaluate(t, states), s._generic_scalar(t, states)
            assert _same(fast, generic), f"{s} at t={t!r}, states {states}: {fast!r} {generic!r}"


def test_a_driver_sees_the_same_values() -> None:
    s = lk.warmup(lk.plateau(factor=0.5, patience=1), 3) * lk.cosine(50, end=0.1)
    a, b = lk.Stepper(s), lk.Stepper(s)
    for k in range(40):
        metric = 1.0 if k % 5 else 0.5
        a.report(metric)
        b.report(metric)
        assert a.value() == float(s._eval(float(b.t), lk.schedules._base.PY, b._states))
        a.step()
        b.step()


def test_long_joins_dispatch_through_bisect() -> None:
    """YOLO-like joins with hundreds of segments compile to a bisect over generated functions."""
    segs = [lk.constant(0.99**k) for k in range(300)]
    s = lk.join(segs, list(range(10, 3000, 10)))
    assert "_bisect" in s._py.__doc__
    for t in [0.0, 9.0, 9.5, 10.0, 11.0, 1234.5, 2990.0, 2999.0, 5000.0]:
        assert s(t) == s._generic_scalar(t)
    nested = lk.join([lk.warmup(s, 5), *segs[:20]], list(range(3100, 3100 + 20 * 7, 7)))
    for t in [0.0, 4.0, 5.0, 3099.0, 3100.0, 3107.5, 4000.0]:
        assert nested(t) == nested._generic_scalar(t)


def test_stateful_long_join() -> None:
    segs = [lk.plateau(factor=0.5) if k % 3 == 0 else lk.constant(0.1 * k) for k in range(12)]
    s = lk.join(segs, list(range(1, 12)))
    states = s._initial_states()
    for i, st_ in enumerate(states):
        st_.reductions = i
    for t in [0.0, 0.5, 3.0, 6.0, 9.0, 11.0, 20.0]:
        assert s.evaluate(t, states) == s._generic_scalar(t, states)


@pytest.mark.parametrize("t", [-1.0, -1e-300, math.nan, math.inf, -math.inf])
def test_bad_steps_are_rejected(t: float) -> None:
    s = lk.warmup(lk.cosine(100), 10)
    with pytest.raises(ValueError, match="finite step count >= 0"):
        s(t)
    with pytest.raises(ValueError, match="finite step count >= 0"):
        s.evaluate(t, ())


def test_huge_integer_steps() -> None:
    s = lk.cosine(100, end=0.25)
    assert s(10**18) == 0.25
    with pytest.raises(ValueError, match="finite step count"):
        s(10**400)


def test_plateau_without_driver_is_still_an_error() -> None:
    s = lk.warmup(lk.plateau(), 5)
    with pytest.raises(lk.StatefulScheduleError):
        s(1.0)
    with pytest.raises(lk.StatefulScheduleError):
        s(1)


def test_pickle_and_copies_rebuild_the_compiled_path() -> None:
    s = lk.warmup(lk.cosine(1000, end=0.1), 100) * 3e-4
    s(5.0)  # compile
    assert "_py" in s.__dict__
    for back in (pickle.loads(pickle.dumps(s)), copy.deepcopy(s), copy.copy(s)):
        assert back == s and hash(back) == hash(s)
        assert back(512.5) == s(512.5)


def test_too_deep_a_tree_falls_back_to_the_generic_path() -> None:
    s: lk.Schedule = lk.cosine(10)
    for k in range(200):  # deeper than Python's compiler nests blocks
        s = lk.warmup(s, 1 + k % 3)
    assert s(150.0) == s._generic_scalar(150.0)


def test_generated_source_holds_only_numbers_and_names() -> None:
    s = lk.wsd(10, 20, 30, decay_shape="exp") + lk.multistep([5, 9]) * 0.5
    src = s._py.__doc__
    assert "wsd" not in src and "multistep" not in src  # formulas, not calls into the tree
    assert "._eval(" not in src
