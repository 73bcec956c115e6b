"""kombu's Redis JSON envelope: round trip, the fields kombu adds, malformed input."""

from __future__ import annotations

import json

import pytest

from celeriac.exceptions import DecodeError
from celeriac.protocol.envelope import dumps_envelope, loads_envelope
from celeriac.protocol.message import Message


def _message() -> Message:
    return Message(
        body=b"\x00\xffbinary",
        content_type="application/x-msgpack",
        content_encoding="binary",
        headers={"task": "tasks.add", "id": "1"},
        properties={
            "correlation_id": "1",
            "reply_to": "r",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "celery"},
            "priority": 3,
        },
    )


def test_round_trip() -> None:
    original = _message()
    raw = dumps_envelope(original)
    again = loads_envelope(raw)
    assert again.body == original.body
    assert (again.content_type, again.content_encoding) == ("application/x-msgpack", "binary")
    assert again.headers == original.headers
    assert again.properties["priority"] == 3
    assert loads_envelope(raw.decode()) == again


def test_kombu_layout() -> None:
    data = json.loads(dumps_envelope(_message()))
    assert list(data) == ["body", "content-encoding", "content-type", "headers", "properties"]
    props = data["properties"]
    assert list(props)[-2:] == ["body_encoding", "delivery_tag"]
    assert props["body_encoding"] == "base64"
    assert len(props["delivery_tag"]) == 36


def test_existing_delivery_tag_is_kept_and_priority_defaults() -> None:
    message = Message(body=b"1", properties={"delivery_tag": "tag-1", "delivery_mode": 2})
    props = json.loads(dumps_envelope(message))["properties"]
    assert props["delivery_tag"] == "tag-1"
    assert props["priority"] == 0
    # kombu's order even when the tag was set first: ..., body_encoding, delivery_tag.
    assert list(props) == ["delivery_mode", "priority", "body_encoding", "delivery_tag"]


def test_plain_text_body_without_base64() -> None:
    raw = json.dumps({"body": "[1, 2]", "headers": {}, "properties": {}})
    message = loads_envelope(raw)
    assert message.body == b"[1, 2]"
    assert message.content_type == "application/json"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not a JSON envelope"),
        (b"[1, 2]", "no 'body'"),
        (b'{"headers": {}}', "no 'body'"),
        (b'{"body": "", "headers": [1]}', "malformed"),
        (b'{"body": "!!!", "properties": {"body_encoding": "base64"}}', "base64"),
    ],
)
def test_malformed_envelopes(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        loads_envelope(raw)
