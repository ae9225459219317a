"""Without their framework, ``lrkit.transformers`` and ``lrkit.lightning`` fail at import with
an ImportError that names the pip command (a fresh interpreter in which the framework's import
fails, as it does where it is not installed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [("lrkit.transformers", ["transformers"], "transformers"),
     ("lrkit.lightning", ["lightning", "pytorch_lightning"], "lightning")],
)
def test_a_missing_framework_names_the_install_command(module: str, blocked: list[str],
                                                       extra: str) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        for name in {blocked!r}:
            sys.modules[name] = None  # `import name` now raises ImportError
        try:
            import {module}
        except ImportError as exc:
            print(exc)
        else:
            print("imported")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert f"pip install 'lrkit[{extra}]'" in out, out


def test_one_lightning_package_is_enough() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["pytorch_lightning"] = None
        import lightning.pytorch as L
        from lrkit.lightning import ReportMetric
        print(ReportMetric.__mro__[1] is L.Callback, isinstance(ReportMetric(), L.Callback))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == "True True"
