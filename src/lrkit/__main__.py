"""``python -m lrkit``: the ``lrkit`` command."""

from lrkit.cli import main

raise SystemExit(main())
