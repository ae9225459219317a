"""docs/tensorflow.md's examples run (in this TensorFlow process, not in tests/test_docs.py's
jax one) and print what the page says; the page is among the pages whose links are checked."""

from __future__ import annotations

from test_docs import DOCS, FENCE, ROOT, _run_python

PAGE = DOCS / "tensorflow.md"


def test_tensorflow_page_examples_run_and_print_what_the_page_says() -> None:
    text = PAGE.read_text(encoding="utf-8")
    ns: dict[str, object] = {"__name__": "__doc__"}
    blocks = 0
    for m in FENCE.finditer(text):
        if m.group(1) == "python":
            where = f"{PAGE.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
            _run_python(m.group(2), ns, where)
            blocks += 1
    assert blocks >= 8, f"{PAGE} has {blocks} python examples"
