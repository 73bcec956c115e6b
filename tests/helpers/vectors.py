"""Celery's captured wire traffic, kept in the repository (``tests/data/celery-wire-vectors``).

The one place that knows where the vectors are. A missing folder or file raises
:class:`MissingVectors`, naming the path: a test that reads a vector fails, and a module
that builds its parameters from them at import time fails to collect. Nothing skips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["VECTORS", "MissingVectors", "find_vector", "load_vector", "vector_files"]

VECTORS = Path(__file__).resolve().parents[1] / "data" / "celery-wire-vectors"

#: How many capture files the repository holds (01 … 24); fewer means some went missing.
EXPECTED_FILES = 24


class MissingVectors(FileNotFoundError):
    """The vectors folder, or a file a test names, is not where it belongs."""


def _missing(what: Path) -> MissingVectors:
    return MissingVectors(
        f"Celery wire vectors missing: {what} does not exist (the captures belong in "
        f"{VECTORS}, tracked in git; see its README.md)"
    )


def vector_files() -> list[Path]:
    """Every capture file, in name order.

    Raises:
        MissingVectors: the folder is missing, or holds fewer files than the capture.
    """
    if not VECTORS.is_dir():
        raise _missing(VECTORS)
    files = sorted(VECTORS.glob("*.json"))
    if len(files) < EXPECTED_FILES:
        raise MissingVectors(
            f"Celery wire vectors incomplete: {len(files)} of {EXPECTED_FILES} files in {VECTORS}"
        )
    return files


def load_vector(name: str) -> dict[str, Any]:
    """The capture file ``name`` (``"11-redis-pidbox-ping.json"``), parsed.

    Raises:
        MissingVectors: the file is missing.
    """
    path = VECTORS / name
    if not path.is_file():
        raise _missing(path)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def find_vector(number: str) -> dict[str, Any]:
    """The capture file whose name starts with ``<number>-`` (``"15"``), parsed.

    Raises:
        MissingVectors: no such file.
    """
    matches = sorted(VECTORS.glob(f"{number}-*.json"))
    if not matches:
        raise _missing(VECTORS / f"{number}-*.json")
    return load_vector(matches[0].name)
