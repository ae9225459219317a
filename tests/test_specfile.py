"""Spec files: JSON, YAML and text, the formats a training config and the CLI share. The expected
values are the published formulas, written out here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import lrkit as lk
from lrkit.specfile import SpecFileError, load_schedule, read_spec_file, schedule_from_data


def cosine_ref(t: float, steps: float, start: float = 1.0, end: float = 0.0) -> float:
    t = min(t, steps)
    return end + (start - end) * (1 + math.cos(math.pi * t / steps)) / 2


def warmup_cosine_ref(t: float) -> float:
    """warmup(cosine(steps=90), steps=10, start=0.001): linear 0.001 -> 1, then cosine to 0."""
    if t < 10:
        return 0.001 + (1 - 0.001) * t / 10
    return cosine_ref(t - 10, 90)


def check_warmup_cosine(s: lk.Schedule) -> None:
    for t in (0, 3, 10, 55, 99, 150):
        assert s(t) == pytest.approx(warmup_cosine_ref(t), rel=1e-12, abs=1e-15)


SPEC = "warmup(cosine(steps=90), steps=10, start=0.001)"
DICT = {"type": "warmup", "schedule": {"type": "cosine", "steps": 90}, "steps": 10,
        "start": 0.001}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("s.json", json.dumps(DICT)),
        ("s.json", json.dumps(SPEC)),
        ("s.json", json.dumps({"lr": 3e-4, "epochs": 3, "schedule": SPEC})),
        ("s.json", json.dumps({"lr": 3e-4, "schedule": DICT})),
        ("s.yaml", "type: warmup\nschedule: {type: cosine, steps: 90}\nsteps: 10\nstart: 0.001\n"),
        ("s.yml", f"lr: 3.0e-4\nbatch_size: 64\nschedule: '{SPEC}'\n"),
        ("s.yaml", "schedule:\n  type: warmup\n  steps: 10\n  start: 0.001\n"
                   "  schedule:\n    type: cosine\n    steps: 90\n"),
        ("s.YAML", f"'{SPEC}'\n"),
        ("s.txt", f"# the schedule of run 7\n{SPEC}\n"),
        ("schedule", "warmup(cosine(steps=90),\n       steps=10, start=0.001)\n"),
    ],
)
def test_every_format_gives_the_same_schedule(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    check_warmup_cosine(read_spec_file(path))
    check_warmup_cosine(load_schedule(f"@{path}"))


def test_to_dict_output_is_a_valid_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(lk.parse(SPEC).to_dict()), encoding="utf-8")
    check_warmup_cosine(read_spec_file(path))


def test_plain_argument_is_a_spec_string() -> None:
    check_warmup_cosine(load_schedule(SPEC))


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("!!python/object/apply:os.system ['echo pwned']\n", encoding="utf-8")
    with pytest.raises(SpecFileError, match="not valid YAML"):
        read_spec_file(path)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("a.json", "{not json", "not valid JSON"),
        ("a.json", json.dumps({"steps": 3}), "'type' key"),
        ("a.json", json.dumps([1, 2]), "list"),
        ("a.json", json.dumps({"schedule": 5}), "int"),
        ("a.yaml", "a: [1, 2\n", "not valid YAML"),
        ("a.txt", "# only a comment\n", "no spec"),
        ("a.txt", "cosine(steps=-5)", "steps"),
        ("a.json", json.dumps({"type": "cosin", "steps": 3}), "cosine"),
    ],
)
def test_bad_files_raise_value_errors(tmp_path: Path, name: str, content: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        read_spec_file(path)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SpecFileError, match="does not exist"):
        load_schedule(f"@{tmp_path / 'nope.json'}")
    with pytest.raises(SpecFileError, match="directory"):
        read_spec_file(tmp_path)
    with pytest.raises(SpecFileError, match="file name"):
        load_schedule("@")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecFileError, match="cannot read"):
        read_spec_file(binary)


def test_schedule_from_data_rejects_other_types() -> None:
    with pytest.raises(SpecFileError):
        schedule_from_data(None)
    assert schedule_from_data({"schedule": "cosine(steps=4)"})(2) == pytest.approx(0.5)
