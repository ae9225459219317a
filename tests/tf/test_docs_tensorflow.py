"""docs/tensorflow.md's examples run and print what the page says, in a fresh process as a
user would run them (tests/test_docs.py's jax process has no TensorFlow; this process has two
logical CPU devices and strategies of its own)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from test_docs import DOCS, ROOT

PAGE = DOCS / "tensorflow.md"

RUNNER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_docs import FENCE, _run_python
    text = open({page!r}, encoding="utf-8").read()
    ns = {{"__name__": "__doc__"}}
    blocks = 0
    for m in FENCE.finditer(text):
        if m.group(1) == "python":
            line = text[: m.start()].count(chr(10)) + 1
            _run_python(m.group(2), ns, f"docs/tensorflow.md:{{line}}")
            blocks += 1
    print(blocks)
    """
)


def test_tensorflow_page_examples_run_and_print_what_the_page_says() -> None:
    code = RUNNER.format(tests=str(ROOT / "tests"), page=str(PAGE))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert int(out.stdout.strip().splitlines()[-1]) >= 8, out.stdout
