"""Fuzz targets: every decoder fed arbitrary bytes, each allowed only its documented errors.

Each target takes bytes and returns nothing; an exception other than the decoder's
documented decode error is a bug. Hypothesis (``test_decoders.py``) and atheris
(``fuzz_decoders.py``) drive the same targets.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable

from celeriac.backends.base import Backend, BackendOptions
from celeriac.beat.schedules import ParseException, crontab
from celeriac.exceptions import DecodeError, InvalidTaskError, SecurityError
from celeriac.protocol.control import parse_reply, parse_request
from celeriac.protocol.envelope import loads_envelope
from celeriac.protocol.events import parse_event_message
from celeriac.protocol.message import Message
from celeriac.protocol.results import decode_exception, meta_value, parse_date_done
from celeriac.protocol.task_message import decode
from celeriac.security.keyring import parse_keyring
from celeriac.security.limits import canvas_depth
from celeriac.security.signing import SIGNATURE_HEADER, KeyRingSigner
from celeriac.security.x509 import unpack

__all__ = ["TARGETS", "run"]

#: Largest decompressed body the task decoder accepts while fuzzing.
MAX_SIZE = 1 << 20
ACCEPT = ["json", "msgpack", "yaml"]
_SIGNER = KeyRingSigner(parse_keyring("hmac:f1:" + "f" * 32), max_age=60)


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return data.decode("latin-1")


def _message(data: bytes) -> Message:
    """A message from fuzz bytes: an envelope when they are one, else a body with headers
    taken from the first line (JSON) when it parses."""
    try:
        return loads_envelope(data)
    except DecodeError:
        pass
    head, _, body = data.partition(b"\n")
    headers = _json(head)
    if not isinstance(headers, dict):
        headers = {"task": "fuzz.task", "id": "fuzz-id"}
    return Message(body=body, headers=headers)


def envelope(data: bytes) -> None:
    """kombu's JSON envelope."""
    try:
        loads_envelope(data)
    except DecodeError:
        pass


def task(data: bytes) -> None:
    """Protocol 1 and 2 task messages (headers and body), compressed or not."""
    message = _message(data)
    try:
        decode(message, accept=ACCEPT, max_size=MAX_SIZE)
        compressed = Message(
            body=zlib.compress(message.body),
            content_type=message.content_type,
            headers={**message.headers, "compression": "application/x-gzip"},
        )
        decode(compressed, accept=ACCEPT, max_size=MAX_SIZE)
    except (DecodeError, InvalidTaskError):
        pass


def signature(data: bytes) -> None:
    """celeriac's signature header and Celery's ``auth`` packet."""
    head, _, body = data.partition(b"\n")
    message = Message(body=body, headers={SIGNATURE_HEADER: head.decode("latin-1")})
    try:
        _SIGNER.verify(message)
    except SecurityError:
        pass
    try:
        unpack(data)
    except SecurityError:
        pass


def canvas(data: bytes) -> None:
    """Embedded signatures (the body's embed) and their nesting depth."""
    value = _json(data)
    canvas_depth(value)
    body = json.dumps([[], {}, value if isinstance(value, dict) else {"chain": value}])
    try:
        decode(Message(body=body.encode(), headers={"task": "t", "id": "i"}), accept=ACCEPT)
    except (DecodeError, InvalidTaskError):
        pass


_BACKEND_OPTIONS = BackendOptions(accept=("json",))


class _Store(Backend):
    """Only the encoding half of a backend (nothing is stored)."""

    def store_many(self, items: object) -> None: ...  # type: ignore[override]
    def get(self, task_id: str) -> None: ...  # type: ignore[override]
    def forget(self, task_id: str) -> None: ...
    def save_group(self, group_id: str, meta: object) -> None: ...  # type: ignore[override]
    def get_group(self, group_id: str) -> None: ...  # type: ignore[override]
    def forget_group(self, group_id: str) -> None: ...


_BACKEND = _Store("fuzz://", _BACKEND_OPTIONS)


def result_meta(data: bytes) -> None:
    """Stored result meta: the stored bytes, the exception, the date."""
    try:
        meta = _BACKEND.decode(data)
        meta_value(meta)
        parse_date_done(meta.get("date_done"))
    except DecodeError:
        pass
    try:
        decode_exception(_json(data))
    except DecodeError:
        pass


def control(data: bytes) -> None:
    """Remote-control requests and replies, and event messages."""
    message = _message(data)
    for parse in (parse_request, parse_reply, parse_event_message):
        try:
            parse(message, ["json"])  # type: ignore[operator]
        except DecodeError:
            pass


def schedule(data: bytes) -> None:
    """Crontab fields as a database row or a settings file gives them."""
    text = data.decode("latin-1")
    fields = (text.split("|") + ["*"] * 5)[:5]
    try:
        crontab(*fields)
    except (ParseException, ValueError):
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "envelope": envelope,
    "task": task,
    "signature": signature,
    "canvas": canvas,
    "result_meta": result_meta,
    "control": control,
    "schedule": schedule,
}
_NAMES = sorted(TARGETS)


def run(data: bytes) -> None:
    """One atheris input: the first byte picks the target, the rest is its input."""
    if not data:
        return
    TARGETS[_NAMES[data[0] % len(_NAMES)]](data[1:])
