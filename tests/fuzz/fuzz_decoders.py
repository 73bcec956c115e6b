"""atheris fuzz target over every decoder (see ``targets.py``), with a seed corpus.

Run by hand (a longer run; new interesting inputs are written into the corpus)::

    python tests/fuzz/fuzz_decoders.py tests/fuzz/corpus -max_total_time=600

``--seed`` (re)writes seed inputs built from Celery's captured wire traffic into the
corpus first. ``test_atheris.py`` runs it for a short budget in the suite.
"""

from __future__ import annotations

import json
import sys
from hashlib import sha1
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1] / "src")]

with atheris.instrument_imports(include=["celeriac"]):
    from fuzz.targets import _NAMES, run


def _strings(value: object) -> list[str]:
    """The raw broker items, bodies and result values in one capture file."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if key in ("raw_list_item", "raw", "raw_value", "value") and isinstance(inner, str):
                    found.append(inner)
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def seed(corpus: Path) -> int:
    """Write each captured raw message once per target (the first byte picks the target)."""
    corpus.mkdir(parents=True, exist_ok=True)
    written = 0
    vectors = HERE.parent / "data" / "celery-wire-vectors"
    for path in sorted(vectors.glob("*.json")):
        for text in _strings(json.loads(path.read_text())):
            for index in range(len(_NAMES)):
                data = bytes([index]) + text.encode()
                (corpus / f"seed-{sha1(data).hexdigest()[:16]}").write_bytes(data)
                written += 1
    return written


def main() -> None:
    argv = list(sys.argv)
    if "--seed" in argv:
        argv.remove("--seed")
        corpus = next((Path(arg) for arg in argv[1:] if not arg.startswith("-")), HERE / "corpus")
        print(f"seeded {seed(corpus)} inputs into {corpus}", file=sys.stderr)
    atheris.Setup(argv, run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
