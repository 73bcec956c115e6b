"""The files here are checked by mypy (``mypy tests/typing`` in scripts/check), never run."""

collect_ignore_glob = ["test_*.py"]
