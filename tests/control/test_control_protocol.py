"""Control messages against Celery 5.7's captured pidbox traffic (V11, V12, V16)."""

from __future__ import annotations

import base64
import json

import pytest

from celeriac.protocol.control import (
    ControlRequest,
    build_reply,
    build_request,
    exchange_names,
    node_matches,
    parse_reply,
    parse_request,
    reply_queue_name,
)
from celeriac.protocol.envelope import dumps_envelope, loads_envelope
from helpers.vectors import load_vector


def test_ping_request_and_reply_match_v11() -> None:
    data = load_vector("11-redis-pidbox-ping.json")
    captured = loads_envelope(data["request"]["raw_payload"])
    request = parse_request(captured)
    assert request.method == "ping"
    assert request.arguments == {}
    assert request.destination is None
    assert request.ticket == "3860e86d-bb39-4dfa-b024-f7858fd21fa4"
    assert request.reply_to == {
        "exchange": "reply.celery.pidbox",
        "routing_key": "31512016-a3f5-3ea8-8f63-3e65cdcc518a",
    }
    assert request.clock == 1

    ours = build_request(
        "ping",
        {},
        ticket=request.ticket,
        reply_to=request.reply_to,
        clock=1,
        timeout=1.0,
    )
    # Byte for byte the body Celery sent (kombu JSON, same key order).
    assert ours.body == base64.b64decode(data["request"]["envelope"]["body"])
    assert set(ours.headers) == {"clock", "expires"}
    assert ours.properties["delivery_mode"] == 2

    reply = build_reply("w1@celeriac-test", {"ok": "pong"}, ticket=request.ticket, clock=3)
    assert reply.body == base64.b64decode(data["reply"]["envelope"]["body"])
    assert reply.headers == data["reply"]["envelope"]["headers"]
    assert reply.properties["delivery_mode"] == 1
    parsed = parse_reply(loads_envelope(data["reply"]["raw_payload"]))
    assert parsed.ticket == request.ticket
    assert parsed.body == {"w1@celeriac-test": {"ok": "pong"}}
    assert parsed.clock == 3


def test_every_captured_request_parses_and_cast_has_no_ticket() -> None:
    for name in ("12-redis-pidbox-other-commands.json", "16-redis-pidbox-control-commands.json"):
        for item in load_vector(name)["traffic"]:
            body = item.get("decoded_body")
            if not body or "method" not in body:
                continue
            message = build_request(
                body["method"],
                body["arguments"],
                destination=body["destination"],
                ticket=body.get("ticket"),
                reply_to=body.get("reply_to"),
            )
            assert json.loads(message.body) == body
            request = parse_request(loads_envelope(dumps_envelope(message)))
            assert request.method == body["method"]
            assert request.arguments == body["arguments"]
    cast = json.loads(build_request("heartbeat").body)
    assert "ticket" not in cast and "reply_to" not in cast
    assert cast["pattern"] is None and cast["matcher"] is None


def test_names() -> None:
    assert exchange_names() == ("celery.pidbox", "reply.celery.pidbox")
    assert exchange_names("x") == ("x.pidbox", "reply.x.pidbox")
    assert reply_queue_name("abc") == "abc.reply.celery.pidbox"


@pytest.mark.parametrize(
    ("request_", "node", "expected"),
    [
        (ControlRequest("ping"), "a@h", True),
        (ControlRequest("ping", destination=["a@h"]), "a@h", True),
        (ControlRequest("ping", destination=["b@h"]), "a@h", False),
        (ControlRequest("ping", pattern="a*", matcher="glob"), "a@h", True),
        (ControlRequest("ping", pattern="b*", matcher="glob"), "a@h", False),
        (ControlRequest("ping", pattern=r"^a@", matcher="pcre"), "a@h", True),
        (ControlRequest("ping", pattern=r"^b@", matcher="pcre"), "a@h", False),
        (ControlRequest("ping", pattern="(", matcher="pcre"), "a@h", False),
    ],
)
def test_node_matching(request_: ControlRequest, node: str, expected: bool) -> None:
    assert node_matches(request_, node) is expected


def test_malformed_requests_are_refused() -> None:
    from celeriac.exceptions import ContentDisallowed, DecodeError
    from celeriac.protocol.message import Message

    with pytest.raises(DecodeError):
        parse_request(Message(body=b'{"arguments": {}}'))
    with pytest.raises(DecodeError):
        parse_request(Message(body=b'{"method": "ping", "arguments": []}'))
    with pytest.raises(ContentDisallowed):
        parse_request(
            Message(body=b"x", content_type="application/x-python-serialize"), accept=["json"]
        )
