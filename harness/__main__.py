"""``python -m harness`` is the ``streamharness`` command."""

from harness.cli import main

raise SystemExit(main())
