"""Spec strings and dicts: canonical text, both round trips on random trees, fuzzing the parser
(only a schedule or a ValueError may come out), error positions, and code that must not run."""

from __future__ import annotations

import contextlib
import json
import math
import pickle

import pytest
from _schedules import COMPOSITES, LEAVES, STATEFUL, examples, trees
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit as lk
from lrkit.spec import MAX_DEPTH, MAX_LENGTH


def test_every_registered_name_has_a_strategy() -> None:
    names = set(lk.registry())
    covered = set(LEAVES) | set(COMPOSITES) | set(STATEFUL)
    assert names == covered, f"registry vs tests/_schedules.py: {names ^ covered}"


def test_registry_names_fields_and_docstrings() -> None:
    import dataclasses

    for name, cls in lk.registry().items():
        assert cls.name == name
        assert issubclass(cls, lk.Schedule)
        doc = (cls.__doc__ or "").strip()
        assert doc, f"{name} has no docstring"
        fields = [f.name for f in dataclasses.fields(cls)]
        assert fields, name
    for name in ("mul", "add", "warmup", "join", "plateau", "untuned_warmup"):
        assert name in lk.registry()


# --- round trips ----------------------------------------------------------------------------


def _assert_round_trips(s: lk.Schedule) -> None:
    text = str(s)
    back = lk.parse(text)
    assert back == s, f"parse(str(s)) != s\n  s    = {s!r}\n  back = {back!r}"
    assert str(back) == text
    d = s.to_dict()
    dumped = json.dumps(d, allow_nan=False)  # JSON-safe: no NaN/inf, no tuples-as-objects
    assert lk.from_dict(json.loads(dumped)) == s
    assert lk.from_dict(d) == s
    assert d["type"] == s.name
    assert hash(back) == hash(s)  # immutable values: usable as dict keys
    assert pickle.loads(pickle.dumps(s)) == s  # e.g. sent to DataLoader workers, torch.save


@settings(max_examples=examples(300))
@given(trees(max_leaves=8, stateful=True))
def test_random_trees_round_trip(s: lk.Schedule) -> None:
    _assert_round_trips(s)


@pytest.mark.parametrize("name", sorted(LEAVES))
@settings(max_examples=examples(15))
@given(data=st.data())
def test_every_leaf_round_trips(name: str, data: st.DataObject) -> None:
    _assert_round_trips(data.draw(LEAVES[name]))


def _nested_joins() -> list[lk.Schedule]:
    a, b, c = lk.cosine(10), lk.linear(1.0, 0.0, 5), lk.cosine(7)
    return [
        lk.join([lk.join([a, b], [10]), c], [15]),  # (a >> b) >> c, built as nested joins
        lk.join([a, lk.join([b, c], [5])], [10]),  # a >> (b >> c)
        lk.join([lk.join([a, b], [4]), c], [9]),  # join([a, b], [4]) >> c
        lk.join([lk.join([a, b], [4]), c], [3]),
        lk.join([a, lk.join([b, c], [2])], [10]),
        (a >> b) >> c,
        a >> (b >> c),
    ]


@pytest.mark.parametrize("s", _nested_joins(), ids=str)
def test_nested_joins_round_trip(s: lk.Schedule) -> None:
    _assert_round_trips(s)


CANONICAL = [
    "warmup(cosine(steps=9000, end=0.01), steps=1000, start=0.001)",
    "cosine(steps=100)",
    "constant()",
    "constant(value=0.5)",
    "step_decay(step_size=5, start=0.1)",
    "multistep(milestones=[30, 60, 90], gamma=0.5)",
    'exponential(gamma=0.99, every=10, staircase=True, end=0.01)',
    'one_cycle(steps=1000, peak=0.1, anneal="linear", three_phase=True)',
    'cyclic(low=0.001, high=0.01, half_period=200, mode="triangular2")',
    'wsd(warmup=100, stable=800, decay=100, decay_shape="1-sqrt")',
    "linear(start=0.0, end=1.0, steps=10) >> cosine(steps=90)",
    "0.1 * cosine(steps=100)",
    "cosine(steps=100) * 0.1",
    "cosine(steps=100) + 0.01",
    "0.5 * (cosine(steps=10) + 0.1)",
    "join([constant(), cosine(steps=10)], boundaries=[5])",
    "cosine(steps=100) * untuned_warmup()",
    "plateau(factor=0.5, patience=3)",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_text_is_a_fixed_point(text: str) -> None:
    s = lk.parse(text)
    assert str(s) == text
    assert lk.parse(str(s)) == s


def test_str_of_the_design_example() -> None:
    s = lk.warmup(lk.cosine(steps=9000, end=0.01), steps=1000, start=0.001)
    assert str(s) == "warmup(cosine(steps=9000, end=0.01), steps=1000, start=0.001)"


def test_positional_and_keyword_forms_parse_equal() -> None:
    a = lk.parse("cosine(100, 1.0, 0.1)")
    b = lk.parse("cosine(steps=100, start=1.0, end=0.1)")
    assert a == b == lk.cosine(100, start=1.0, end=0.1)
    assert lk.parse("  cosine(steps=100)\n") == lk.cosine(100)
    assert lk.parse("multistep((10, 20))") == lk.multistep([10, 20])


def test_operators_parse_to_the_algebra() -> None:
    c, w = lk.cosine(100), lk.linear(0.0, 1.0, 10)
    assert lk.parse("linear(0.0, 1.0, 10) >> cosine(100)") == (w >> c)
    assert lk.parse("2 * cosine(100)") == 2 * c
    assert lk.parse("cosine(100) + 0.5") == c + 0.5
    assert lk.parse("cosine(100) * cosine(100)") == c * c


def test_to_dict_shape() -> None:
    s = lk.warmup(lk.cosine(steps=90, end=0.1), steps=10)
    d = s.to_dict()
    assert d["type"] == "warmup"
    assert d["schedule"]["type"] == "cosine"
    assert d["schedule"]["steps"] == 90
    assert d["steps"] == 10
    j = lk.join([lk.constant(1.0), lk.cosine(5)], [3]).to_dict()
    assert j["boundaries"] == [3]
    assert [x["type"] for x in j["schedules"]] == ["constant", "cosine"]


def test_from_dict_fills_defaults_and_rejects_junk() -> None:
    assert lk.from_dict({"type": "cosine", "steps": 10}) == lk.cosine(10)
    for bad, reason in (
        ({"type": "nope"}, "unknown schedule 'nope'"),
        ({"steps": 10}, "unknown schedule None"),
        ({"type": "cosine"}, "cosine needs 'steps'"),
        ({"type": "cosine", "steps": 10, "bogus": 1}, "cosine has no parameter 'bogus'"),
        ({"type": "cosine", "steps": -1}, "cosine: steps must be a finite number > 0; got -1"),
        ({"type": "warmup", "schedule": 3, "steps": 2}, "d['schedule'] must be a dict"),
        ({"type": "join", "schedules": "x", "boundaries": []},
         "d['schedules'] must be a list of schedule dicts"),
        ("cosine(steps=10)", "d must be a dict with a 'type' key"),
        (None, "d must be a dict with a 'type' key"),
        # non-string keys: a ValueError that names the key, never a TypeError from sorting
        ({"type": "cosine", "steps": 10, 1: 2}, "has the key 1 (int); keys must be strings"),
        ({"type": "cosine", 1: 2, "x": 3}, "has the key 1 (int)"),
        ({1: "cosine"}, "has the key 1 (int)"),
        ({"type": "warmup", "schedule": {"type": "cosine", "steps": 3, (1, 2): 0}, "steps": 1},
         "d['schedule'] has the key (1, 2) (tuple)"),
        ({"type": "cosine", "steps": 10**400}, "steps must be a finite real number"),
        ({"type": "cosine", "steps": float("nan")}, "steps must be a finite real number"),
        ({"type": "cosine", "steps": [1]}, "steps must be a finite real number"),
        ({"type": "exponential", "gamma": 2.0}, "end must be a ceiling"),
    ):
        with pytest.raises(ValueError) as info:
            lk.from_dict(bad)
        assert reason in str(info.value), (bad, str(info.value))


def test_from_dict_depth_limit() -> None:
    d: dict[str, object] = {"type": "cosine", "steps": 10}
    for _ in range(MAX_DEPTH + 5):
        d = {"type": "warmup", "schedule": d, "steps": 1}
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_DEPTH} levels"):
        lk.from_dict(d)


# --- parse errors ---------------------------------------------------------------------------


def _parse_error(text: str) -> str:
    with pytest.raises(ValueError) as info:
        lk.parse(text)
    assert isinstance(info.value, lk.SpecError)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("cosine(steps=100", None, "invalid spec"),
        ("cosine(steps=100))", None, "invalid spec"),
        ("cosin(steps=100)", 1, "unknown schedule 'cosin'"),
        ("warmup(cosin(steps=100), steps=10)", 8, "unknown schedule 'cosin'"),
        # the caret under the misspelt keyword, not its value
        ("cosine(stepz=100)", 8, "cosine has no parameter 'stepz'"),
        ("cosine(step=1000)", 8, "cosine has no parameter 'step' (did you mean 'steps'?)"),
        # the caret under the bad value, not the call
        ("cosine(steps=-5)", 14, "cosine: steps must be a finite number > 0; got -5"),
        ("warmup(cosine(steps=-5), steps=10)", 21, "cosine: steps must be"),
        ("warmup(cosine(steps=5), steps=0)", 31, "warmup: steps must be"),
        ("cosine(100, -1)", 13, "cosine: start must be a finite number from 0"),
        ("cosine(steps=100) - 0.1", 1, "operator Sub is not allowed"),
        ("cosine(steps=100) @ cosine(steps=3)", 1, "operator MatMult is not allowed"),
        ("cosine(steps='a')", 14, "cosine: steps must be a finite real number; got 'a'"),
        ('cosine(steps=100, end="x")', 23, "cosine: end must be a finite real number"),
        ('warmup(cosine(steps=100), 5, shape="logx")', 36, "warmup: shape must be one of"),
        ("cosine(steps=100) >> cosine(steps=5) >> step_decay(5) >> cosine(3)", None,
         "has no end"),
        ("cosine", 1, "cosine must be called"),
        ("cosine(steps=10, steps=10)", 18, "'steps' given twice"),
        ("1 +", None, "invalid spec"),
        ("os.cosine(steps=10)", 1, "only calls of schedule names are allowed, such as "
         "cosine(steps=100); got a call of os.cosine"),
        ("cosine(steps=10).cosine(steps=3)", 1, "only calls of schedule names are allowed"),
        ("exponential(2.0) * cosine(steps=100)", 1, "a ceiling (a finite number >= 0) when "
         "gamma > 1"),
    ],
)
def test_errors_point_at_the_place(text: str, column: int | None, reason: str) -> None:
    msg = _parse_error(text)
    assert reason in msg, msg  # refused for the right reason, not just "some ValueError"
    assert "^" in msg, msg
    assert "column" in msg, msg
    lines = msg.split("\n")
    caret_line = next(line for line in lines if line.strip() == "^")
    src_line = lines[lines.index(caret_line) - 1]
    assert src_line.strip() in text
    if column is not None:
        assert f"column {column}" in msg, msg
        # the caret sits under that column of the echoed text
        indent = len(src_line) - len(src_line.lstrip())
        assert caret_line.index("^") - indent == column - 1, msg


def test_unknown_name_suggests_the_close_one() -> None:
    msg = _parse_error("cosin(steps=100)")
    assert "cosine" in msg


def test_errors_on_later_lines_name_the_line() -> None:
    msg = _parse_error("warmup(\n  cosine(stepz=100),\n  steps=10)")
    assert "line 2" in msg


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("__import__('os').system('echo pwned')", "call of __import__('os').system"),
        ('().__class__.__bases__[0].__subclasses__()', 'only calls of schedule names are allowed'),
        ('cosine.__class__', 'Attribute is not allowed'),
        ('cosine(steps=100).__class__', 'Attribute is not allowed'),
        ('(lambda: 1)()', 'only calls of schedule names are allowed'),
        ('[x for x in range(3)]', 'ListComp is not allowed'),
        ('cosine(steps=[x for x in (1,)][0])', 'Subscript is not allowed'),
        ("f'{1}'", 'JoinedStr is not allowed'),
        ("cosine(steps=len('ab'))", "unknown schedule 'len'"),
        ("eval('1')", "unknown schedule 'eval'"),
        ("exec('x=1')", "unknown schedule 'exec'"),
        ("open('/etc/passwd')", "unknown schedule 'open'"),
        ('globals()', "unknown schedule 'globals'"),
        ('cosine(steps=100)[0]', 'Subscript is not allowed'),
        ("cosine(**{'steps': 100})", '**kwargs is not allowed'),
        ('cosine(*[100])', '*args is not allowed'),
        ("{'type': 'cosine'}", 'Dict is not allowed'),
        ('{1, 2}', 'Set is not allowed'),
        ('x := 1', 'invalid syntax'),
        ('cosine(steps=(x := 100))', 'NamedExpr is not allowed'),
        ('cosine(steps=100) if 1 else 2', 'IfExp is not allowed'),
        ('not cosine(steps=1)', 'UnaryOp is not allowed'),
        ('cosine(steps=1) and 1', 'BoolOp is not allowed'),
        ('cosine(steps=1) < 2', 'Compare is not allowed'),
        ('await cosine(steps=1)', 'Await is not allowed'),
        ('...', 'unsupported literal Ellipsis'),
        ("b'cosine'", "unsupported literal b'cosine'"),
        ('1j', 'unsupported literal 1j'),
        ('cosine(steps=1e1000)', 'steps must be a finite real number; got inf'),
        ('cosine(steps=True)', 'steps must be a finite real number; got True'),
        ('cosine(steps=None)', 'steps must be a finite real number; got None'),
        ('import os', 'invalid syntax'),
        ('cosine(steps=100); 1', 'invalid syntax'),
        ('', 'empty spec'),
        ('   ', 'empty spec'),
        ('-cosine(steps=1)', 'a sign can only apply to a number'),
        ('os.cosine(steps=10)', 'got a call of os.cosine'),
        ('lrkit.cosine(steps=10)', 'got a call of lrkit.cosine'),
    ],
)
def test_code_and_non_specs_are_rejected(
    text: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the parser evaluated code")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "__import__", _guarded_import(builtins.__import__))
    with pytest.raises(ValueError) as info:
        lk.parse(text)
    assert reason in str(info.value)  # refused for the right reason (the construct named)


def _guarded_import(real):  # type: ignore[no-untyped-def]
    def guarded(name: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if name in ("os", "subprocess"):
            raise AssertionError(f"the parser imported {name}")
        return real(name, *args, **kwargs)

    return guarded


def test_non_string_input() -> None:
    for bad in (None, 3, b"cosine(steps=1)", ["cosine(steps=1)"]):
        with pytest.raises(ValueError):
            lk.parse(bad)  # type: ignore[arg-type]


def test_length_limit() -> None:
    long = "0.5 * " * (MAX_LENGTH // 6 + 10) + "cosine(steps=10)"
    assert len(long) > MAX_LENGTH
    msg = _spec_message(long)
    assert str(MAX_LENGTH) in msg


def test_depth_limit() -> None:
    inner = "cosine(steps=10)"
    deep = inner
    for _ in range(MAX_DEPTH + 5):
        deep = f"warmup({deep}, steps=1)"
    assert len(deep) < MAX_LENGTH
    _spec_message(deep)
    # operators nest too: a long chain of parentheses
    parens = "(" * (MAX_DEPTH + 5) + inner + ")" * (MAX_DEPTH + 5)
    _spec_message(parens)
    # a long flat chain of operators is an unparenthesised depth: also limited or accepted,
    # never a crash
    chain = " + ".join([inner] * 400)
    with contextlib.suppress(ValueError):
        lk.parse(chain)
    # a moderately nested spec is fine
    ok = inner
    for _ in range(10):
        ok = f"warmup({ok}, steps=1)"
    assert isinstance(lk.parse(ok), lk.Warmup)


def _spec_message(text: str) -> str:
    with pytest.raises(ValueError) as info:
        lk.parse(text)
    return str(info.value)


# --- fuzzing --------------------------------------------------------------------------------

ALPHABET = st.sampled_from(list("cosinewarmupjoi_()[],=*+>-.0123456789e \"'\n#:{}@!lambdaxf"))


def _parse_only_value_error(text: str) -> None:
    try:
        out = lk.parse(text)
    except ValueError:
        return
    except Exception as exc:  # anything else is the failure looked for
        pytest.fail(f"parse({text!r}) raised {type(exc).__name__}: {exc}")
    assert isinstance(out, lk.Schedule)


@given(st.text(max_size=80))
def test_fuzz_any_text(text: str) -> None:
    _parse_only_value_error(text)


@given(st.text(ALPHABET, max_size=80))
def test_fuzz_spec_alphabet(text: str) -> None:
    _parse_only_value_error(text)


@settings(max_examples=examples(100))
@given(trees(max_leaves=5, stateful=True), st.data())
def test_fuzz_mutated_valid_specs(s: lk.Schedule, data: st.DataObject) -> None:
    text = str(s)
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["delete", "insert", "replace", "swap_number"]))
        i = data.draw(st.integers(0, len(text)))
        if op == "delete" and text:
            j = data.draw(st.integers(i, min(len(text), i + 5)))
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + data.draw(st.text(ALPHABET, min_size=1, max_size=3)) + text[i:]
        elif op == "replace" and i < len(text):
            text = text[:i] + data.draw(ALPHABET) + text[i + 1 :]
        else:
            num = data.draw(
                st.sampled_from(["-1", "0", "1e309", "nan", "inf", "True", "1e-320", "10**9"])
            )
            text = text[:i] + num + text[i:]
    _parse_only_value_error(text)


@given(
    st.sampled_from(sorted(lk.registry())),
    st.dictionaries(
        st.sampled_from(["steps", "start", "end", "gamma", "mode", "shape", "schedule",
                         "schedules", "boundaries", "milestones", "value", "period", "bogus"]),
        st.one_of(
            st.none(), st.booleans(), st.integers(-5, 10**12), st.text(max_size=5),
            st.floats(allow_nan=True, allow_infinity=True),
            st.lists(st.integers(-3, 30), max_size=3),
            st.just({"type": "cosine", "steps": 3}),
        ),
        max_size=4,
    ),
)
def test_fuzz_from_dict(name: str, params: dict[str, object]) -> None:
    try:
        out = lk.from_dict({"type": name, **params})
    except ValueError:
        return
    except Exception as exc:  # a crash, not a ValueError
        pytest.fail(f"from_dict raised {type(exc).__name__}: {exc}")
    assert isinstance(out, lk.Schedule)
    assert lk.from_dict(json.loads(json.dumps(out.to_dict()))) == out


def test_parsed_numbers_keep_their_value() -> None:
    s = lk.parse("cosine(steps=100, start=0.1, end=1e-05)")
    assert isinstance(s, lk.Cosine)
    assert s.start == 0.1 and s.end == 1e-05
    assert not math.isnan(s(3))


def test_sequence_after_constant_tail_error_is_clear() -> None:
    """``a >> b`` when a's last segment is a constant: a plain error from ``>>`` that says so
    (not a complaint about boundaries the user never wrote)."""
    a = lk.cosine(5) >> lk.constant(0.5)
    try:
        s = a >> lk.cosine(3)
    except ValueError as exc:
        assert "boundaries must be strictly increasing" not in str(exc), str(exc)
        assert ">>" in str(exc), str(exc)
    else:  # dropping the zero-length constant segment is also acceptable
        assert s(0) == pytest.approx(1.0)
        assert s(5) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text",
    [
        "-" * 9990 + "1",
        "+" * 9990 + "1",
        "~" * 5000 + "1",
        "constant(" + "-" * 9000 + "1)",
        "cosine(10)" + " * 1" * 2400,
        "not " * 2000 + "1",
        "cosine(steps=1" + "0" * 400 + ")",
        "cosine(steps=10)\x00",
        "\\",
        '"' + "a" * 9000 + '"',
    ],
    ids=lambda t: repr(t[:12]) + f"..{len(t)}",
)
def test_pathological_texts_give_a_reason(text: str) -> None:
    """Huge or deeply nested input: a SpecError (never a crash), whose message gives a reason."""
    with pytest.raises(ValueError) as info:
        lk.parse(text)
    assert isinstance(info.value, lk.SpecError)
    first = str(info.value).split("\n")[0]
    reason = first.split(":", 1)[-1].strip()
    assert len(reason) > 3, f"no reason given: {first!r}"
