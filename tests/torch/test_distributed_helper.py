"""all_reduce_metric without a process group, and its input checks (the 2-process behaviour is
in test_distributed.py)."""

from __future__ import annotations

import pytest
import torch

from lrkit.torch.distributed import all_reduce_metric


def test_without_process_group_returns_the_float() -> None:
    assert all_reduce_metric(0.25) == 0.25
    assert all_reduce_metric(torch.tensor(1.5)) == 1.5


def test_bad_op_is_named() -> None:
    with pytest.raises(ValueError, match="op"):
        all_reduce_metric(1.0, op="median")  # type: ignore[arg-type]
