"""Task messages: Celery 5.7's exact protocol 2 shape, protocol 1/hybrid decoding, errors."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from celeriac.exceptions import ContentDisallowed, DecodeError, EncodeError, InvalidTaskError
from celeriac.protocol.envelope import dumps_envelope, loads_envelope
from celeriac.protocol.message import Message
from celeriac.protocol.saferepr import saferepr
from celeriac.protocol.serializers import dumps, json_dumps, loads
from celeriac.protocol.task_message import (
    HEADER_KEYS,
    TaskMessage,
    decode,
    default_origin,
    encode,
    parse_when,
)
from helpers.vectors import load_vector

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 22, 2, 44, 34, 14047, tzinfo=UTC)
EMPTY_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def _as_envelope_bytes(message: Message, delivery_tag: str) -> bytes:
    message.properties["delivery_tag"] = delivery_tag
    return dumps_envelope(message)


def _v2(headers: dict[str, Any], body: Any, **properties: Any) -> Message:
    return Message(body=json_dumps(body).encode(), headers=headers, properties=properties)


# --------------------------------------------------------------------------- build vs Celery


def test_build_matches_vector_01_exactly() -> None:
    captured = load_vector("01-redis-add-delay.json")["messages"][0]
    envelope = captured["envelope"]
    headers = envelope["headers"]
    message = encode(
        TaskMessage(
            id=headers["id"],
            name="tasks.add",
            args=[2, 2],
            kwargs={},
            origin=headers["origin"],
            reply_to=envelope["properties"]["reply_to"],
        )
    )
    assert list(message.headers.items()) == list(headers.items())
    assert list(message.headers)[: len(HEADER_KEYS)] == list(HEADER_KEYS)
    assert message.body == base64.b64decode(envelope["body"])
    raw = _as_envelope_bytes(message, envelope["properties"]["delivery_tag"])
    assert raw.decode() == captured["raw_list_item"]


def test_build_matches_vector_02_options_exactly() -> None:
    captured = load_vector("02-redis-apply-async-options.json")["messages"][0]
    envelope = captured["envelope"]
    headers = envelope["headers"]
    _, _, embed = captured["decoded_body"]
    eta = dt.datetime.fromisoformat(headers["eta"])
    now = eta - dt.timedelta(seconds=10)  # countdown=10
    message = encode(
        TaskMessage(
            id=headers["id"],
            name="tasks.add",
            args=[2, 2],
            kwargs={},
            eta=eta,
            # apply_async(expires=60): header now+60, expiration "60000"
            expires=parse_when(60, now, "expires"),
            callbacks=embed["callbacks"],
            errbacks=embed["errbacks"],
            priority=5,
            time_limit=30,
            soft_time_limit=20,
            origin=headers["origin"],
            reply_to=envelope["properties"]["reply_to"],
        ),
        now=now,
    )
    assert list(message.headers.items()) == list(headers.items())
    raw = _as_envelope_bytes(message, envelope["properties"]["delivery_tag"])
    assert raw.decode() == captured["raw_list_item"]


def test_build_matches_vector_23_shadow_custom_header_and_queue() -> None:
    captured = load_vector("23-signature-shapes-and-canvas-messages.json")["messages"][2]
    envelope = captured["envelope"]
    headers = envelope["headers"]
    message = encode(
        TaskMessage(
            id=headers["id"],
            name="tasks.add",
            args=[4],
            kwargs={"y": 1},
            shadow="renamed.add",
            headers={"x-custom": "v"},
            priority=9,
            delivery_info={"exchange": "", "routing_key": "hipri"},
            origin=headers["origin"],
            reply_to=envelope["properties"]["reply_to"],
        )
    )
    assert list(message.headers.items()) == list(headers.items())
    assert list(message.headers)[-1] == "x-custom"
    want = {
        k: v
        for k, v in envelope["properties"].items()
        if k not in ("body_encoding", "delivery_tag")
    }
    assert list(message.properties.items()) == list(want.items())
    assert loads(message.body, message.content_type) == captured["decoded_body"]


def test_build_chain_and_chord_embeds_match_vectors() -> None:
    for name in ("03-redis-chain.json", "05-redis-chord.json"):
        captured = load_vector(name)["messages"][0]
        envelope = captured["envelope"]
        headers = envelope["headers"]
        args, kwargs, embed = captured["decoded_body"]
        message = encode(
            TaskMessage(
                id=headers["id"],
                name=headers["task"],
                args=args,
                kwargs=kwargs,
                chain=embed["chain"],
                chord=embed["chord"],
                group=headers["group"],
                group_index=headers["group_index"],
                origin=headers["origin"],
                reply_to=envelope["properties"]["reply_to"],
            )
        )
        raw = _as_envelope_bytes(message, envelope["properties"]["delivery_tag"])
        assert json.loads(raw) == envelope


@pytest.mark.interop
def test_headers_match_celerys_own_producer() -> None:
    celery = pytest.importorskip("celery")
    app = celery.Celery(set_as_current=False)
    now = dt.datetime(2026, 1, 1, tzinfo=UTC)
    theirs = app.amqp.as_task_v2(
        "id-1",
        "tasks.add",
        (2, "x" * 2000),
        {"k": [1, [2, [3, [4]]]]},
        countdown=10,
        expires=60,
        now=now,
        origin="gen1@host",
        reply_to="r",
        time_limit=30,
        soft_time_limit=20,
        group_id="g",
        group_index=0,
        shadow="s",
        stamped_headers=["a"],
        a=1,
    )
    ours = encode(
        TaskMessage(
            id="id-1",
            name="tasks.add",
            args=[2, "x" * 2000],
            kwargs={"k": [1, [2, [3, [4]]]]},
            eta=parse_when(10, now),
            expires=parse_when(60, now, "expires"),
            origin="gen1@host",
            reply_to="r",
            time_limit=30,
            soft_time_limit=20,
            group="g",
            group_index=0,
            shadow="s",
            stamped_headers=["a"],
            stamps={"a": 1},
        ),
        now=now,
    )
    expected = dict(theirs.headers)
    # argsrepr is display-only: Celery cuts long strings its own way; both stay within 1024.
    assert len(ours.headers.pop("argsrepr")) <= 1024
    assert len(expected.pop("argsrepr")) <= 1030
    assert list(ours.headers.items()) == list(expected.items())


# --------------------------------------------------------------------------- build rules


def test_defaults() -> None:
    message = encode(TaskMessage(id="id-1", name="t"))
    assert message.headers["root_id"] == "id-1"
    assert message.headers["origin"] == default_origin()
    assert default_origin().startswith("gen")
    assert message.headers["argsrepr"] == "()"
    assert message.headers["kwargsrepr"] == "{}"
    assert message.headers["timelimit"] == [None, None]
    assert message.headers["stamps"] == {}
    assert message.properties == {
        "correlation_id": "id-1",
        "reply_to": "",
        "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": "celery"},
        "priority": 0,
    }
    assert loads(message.body, message.content_type) == [[], {}, EMPTY_EMBED]


def test_root_and_parent_ids_are_kept() -> None:
    message = encode(TaskMessage(id="id-2", name="t", root_id="root", parent_id="parent"))
    assert (message.headers["root_id"], message.headers["parent_id"]) == ("root", "parent")


def test_naive_eta_means_utc_and_aware_keeps_its_offset() -> None:
    naive = encode(TaskMessage(id="i", name="t", eta=dt.datetime(2026, 1, 1, 12, 0)))
    assert naive.headers["eta"] == "2026-01-01T12:00:00+00:00"
    paris = dt.timezone(dt.timedelta(hours=1))
    aware = encode(TaskMessage(id="i", name="t", eta=dt.datetime(2026, 1, 1, 13, 0, tzinfo=paris)))
    assert aware.headers["eta"] == "2026-01-01T13:00:00+01:00"


def test_iso_strings_are_checked_and_naive_ones_get_utc() -> None:
    # An ISO string option keeps its instant and its offset (it is sent re-rendered).
    kept = encode(TaskMessage(id="i", name="t", eta=parse_when("2026-01-01T12:00:00.5+01:00", NOW)))
    assert kept.headers["eta"] == "2026-01-01T12:00:00.500000+01:00"
    assert dt.datetime.fromisoformat(kept.headers["eta"]) == dt.datetime.fromisoformat(
        "2026-01-01T12:00:00.5+01:00"
    )
    naive = encode(
        TaskMessage(id="i", name="t", expires=parse_when("2026-01-01T12:00:00", NOW, "expires")),
        now=NOW,
    )
    assert naive.headers["expires"] == "2026-01-01T12:00:00+00:00"
    with pytest.raises(EncodeError, match="eta"):
        parse_when("soon", NOW, "eta")


def test_countdown_and_expires_in_seconds() -> None:
    message = encode(
        TaskMessage(
            id="i", name="t", eta=parse_when(10, NOW), expires=parse_when(60.5, NOW, "expires")
        ),
        now=NOW,
    )
    assert message.headers["eta"] == (NOW + dt.timedelta(seconds=10)).isoformat()
    assert message.headers["expires"] == (NOW + dt.timedelta(seconds=60.5)).isoformat()
    assert message.properties["expiration"] == "60500"
    assert list(message.properties) == [
        "correlation_id",
        "reply_to",
        "delivery_mode",
        "expiration",
        "delivery_info",
        "priority",
    ]


def test_expiration_from_a_datetime_or_iso_string() -> None:
    later = NOW + dt.timedelta(seconds=30)
    by_dt = encode(TaskMessage(id="i", name="t", expires=later), now=NOW)
    by_str = encode(
        TaskMessage(id="i", name="t", expires=parse_when(later.isoformat(), NOW, "expires")),
        now=NOW,
    )
    assert by_dt.properties["expiration"] == by_str.properties["expiration"] == "30000"
    assert by_str.headers["expires"] == later.isoformat()


def test_expiration_in_the_past_is_zero() -> None:
    message = encode(TaskMessage(id="i", name="t", expires=NOW - dt.timedelta(hours=1)), now=NOW)
    assert message.properties["expiration"] == "0"


def test_argsrepr_is_cut_to_1024() -> None:
    message = encode(
        TaskMessage(
            id="i", name="t", args=["x" * 5000, list(range(3000))], kwargs={"k": "v" * 3000}
        )
    )
    assert len(message.headers["argsrepr"]) <= 1024
    assert message.headers["argsrepr"].endswith("...)")
    assert len(message.headers["kwargsrepr"]) <= 1024
    explicit = encode(
        TaskMessage(id="i", name="t", args=[1], argsrepr="<hidden>", kwargsrepr="<none>")
    )
    assert (explicit.headers["argsrepr"], explicit.headers["kwargsrepr"]) == ("<hidden>", "<none>")


def test_saferepr_never_raises() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("nope")

    assert "unrepresentable" in saferepr((Broken(),))
    loop: list[Any] = []
    loop.append(loop)
    assert "Recursion" in saferepr(loop, maxlevels=10)


def test_custom_headers_follow_protocol_headers_and_compression_comes_last() -> None:
    message = encode(
        TaskMessage(id="i", name="t", args=[1], headers={"x-a": 1, "x-b": 2}), compression="zlib"
    )
    keys = list(message.headers)
    assert keys[: len(HEADER_KEYS)] == list(HEADER_KEYS)
    assert keys[len(HEADER_KEYS) :] == ["x-a", "x-b", "compression"]
    assert message.headers["compression"] == "application/x-gzip"
    call = decode(message)
    assert call.args == [1]
    assert call.headers["x-a"] == 1


def test_args_must_be_a_sequence_and_kwargs_a_mapping() -> None:
    with pytest.raises(TypeError, match="list or tuple"):
        encode(TaskMessage(id="i", name="t", args="ab"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping"):
        encode(TaskMessage(id="i", name="t", args=[], kwargs=[1]))  # type: ignore[arg-type]


@pytest.mark.parametrize("serializer", ["json", "pickle", "yaml", "msgpack"])
def test_every_serializer_round_trips(serializer: str) -> None:
    message = encode(
        TaskMessage(
            id="i", name="t", args=[1, "two"], kwargs={"k": [3]}, callbacks=[{"task": "c"}]
        ),
        serializer=serializer,
    )
    call = decode(message, accept=[serializer])
    assert (call.args, call.kwargs, call.callbacks) == ([1, "two"], {"k": [3]}, [{"task": "c"}])


# --------------------------------------------------------------------------- decode


def test_decode_protocol_2_fields() -> None:
    message = encode(
        TaskMessage(
            id="id-1",
            name="tasks.add",
            args=[2, 2],
            kwargs={"z": 1},
            eta=NOW,
            expires=NOW + dt.timedelta(minutes=5),
            retries=3,
            time_limit=30,
            soft_time_limit=20,
            root_id="root",
            parent_id="parent",
            group="g",
            group_index=2,
            shadow="alias",
            origin="gen1@h",
            ignore_result=True,
            chain=[{"task": "next"}],
            chord={"task": "body"},
            reply_to="reply",
            priority=7,
            delivery_info={"exchange": "", "routing_key": "q"},
            stamped_headers=["s"],
            stamps={"s": "v"},
            replaced_task_nesting=1,
            headers={"x-custom": "c"},
        ),
        now=NOW,
    )
    call = decode(loads_envelope(dumps_envelope(message)), accept=["json"])
    assert (call.id, call.name, call.args, call.kwargs) == ("id-1", "tasks.add", [2, 2], {"z": 1})
    assert call.eta == NOW and call.eta.tzinfo is not None
    assert call.expires == NOW + dt.timedelta(minutes=5)
    assert (call.retries, call.time_limit, call.soft_time_limit) == (3, 30.0, 20.0)
    assert (call.root_id, call.parent_id, call.group, call.group_index) == (
        "root",
        "parent",
        "g",
        2,
    )
    assert (call.shadow, call.origin, call.ignore_result) == ("alias", "gen1@h", True)
    assert (call.chain, call.chord, call.callbacks, call.errbacks) == (
        [{"task": "next"}],
        {"task": "body"},
        None,
        None,
    )
    assert (call.reply_to, call.correlation_id, call.priority) == ("reply", "id-1", 7)
    assert call.delivery_info == {"exchange": "", "routing_key": "q"}
    assert (call.stamped_headers, call.stamps, call.replaced_task_nesting) == (["s"], {"s": "v"}, 1)
    assert call.headers["x-custom"] == "c"
    assert (call.argsrepr, call.kwargsrepr) == ("(2, 2)", "{'z': 1}")
    assert call.protocol == 2


def test_decode_tolerates_missing_optional_headers() -> None:
    call = decode(_v2({"task": "t", "id": "i"}, [[1], {}, EMPTY_EMBED]))
    assert (call.retries, call.time_limit, call.root_id, call.argsrepr) == (0, None, None, "")
    assert call.ignore_result is None
    assert call.priority == 0
    assert call.stamps == {}


def test_decode_accepts_null_embed() -> None:
    call = decode(_v2({"task": "t", "id": "i"}, [[], {}, None]))
    assert call.callbacks is None


def test_naive_eta_header_is_taken_as_utc() -> None:
    # Celery's worker would use its local timezone here; we use UTC (see task_message._parse_when).
    call = decode(
        _v2({"task": "t", "id": "i", "eta": "2026-01-01T12:00:00"}, [[], {}, EMPTY_EMBED])
    )
    assert call.eta == dt.datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_decode_refuses_content_not_accepted() -> None:
    message = encode(TaskMessage(id="i", name="t"), serializer="pickle")
    with pytest.raises(ContentDisallowed, match="x-python-serialize"):
        decode(message, accept=["json"])


def test_decode_compressed_body() -> None:
    for method in ("zlib", "bzip2", "lzma"):
        message = encode(TaskMessage(id="i", name="t", args=[method]), compression=method)
        assert decode(message).args == [method]


def test_protocol_1_body() -> None:
    # The body Celery's as_task_v1 writes (task_protocol = 1), serialized as JSON.
    body = {
        "task": "tasks.add",
        "id": "id-1",
        "args": [2, 2],
        "kwargs": {"k": 1},
        "group": None,
        "group_index": None,
        "retries": 1,
        "eta": "2026-01-01T00:00:10",
        "expires": None,
        "utc": True,
        "callbacks": [{"task": "cb"}],
        "errbacks": None,
        "timelimit": [30, None],
        "taskset": "g",
        "chord": None,
    }
    call = decode(Message(body=json_dumps(body).encode()))
    assert call.protocol == 1
    assert (call.id, call.name, call.args, call.kwargs) == ("id-1", "tasks.add", [2, 2], {"k": 1})
    assert call.group == "g"
    assert call.retries == 1
    assert (call.time_limit, call.soft_time_limit) == (30.0, None)
    assert call.eta == dt.datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert call.callbacks == [{"task": "cb"}]
    assert (call.argsrepr, call.kwargsrepr) == ("(2, 2)", "{'k': 1}")
    assert call.headers == {}
    again = decode(encode(call))
    assert again.protocol == 2
    assert (again.id, again.args, again.group, again.eta) == ("id-1", [2, 2], "g", call.eta)


def test_protocol_1_local_time_when_not_utc() -> None:
    body = {"task": "t", "id": "i", "args": [], "kwargs": {}, "eta": "2026-01-01T00:00:00"}
    call = decode(Message(body=json_dumps({**body, "utc": False}).encode()))
    assert call.eta == dt.datetime(2026, 1, 1).astimezone()


@pytest.mark.interop
def test_protocol_1_from_celerys_producer() -> None:
    celery = pytest.importorskip("celery")
    app = celery.Celery(set_as_current=False)
    v1 = app.amqp.as_task_v1(
        "id-1", "tasks.add", (2, 2), {"k": 1}, countdown=10, group_id="g", time_limit=30
    )
    content_type, encoding, payload = dumps(v1.body)
    message = Message(payload, content_type, encoding, dict(v1.headers), dict(v1.properties))
    call = decode(message, accept=["json"])
    assert (call.protocol, call.id, call.name, call.group) == (1, "id-1", "tasks.add", "g")
    assert call.eta == dt.datetime.fromisoformat(v1.body["eta"])
    assert call.time_limit == 30.0


def test_hybrid_message() -> None:
    headers = {"task": "tasks.add", "id": "id-1", "retries": 2}
    body = {"args": [1], "kwargs": {}, "retries": 9, "eta": "2026-01-01T00:00:00+00:00"}
    call = decode(Message(body=json_dumps(body).encode(), headers=headers))
    assert call.protocol == 2
    assert (call.name, call.args, call.retries) == ("tasks.add", [1], 2)  # headers win
    assert call.eta == dt.datetime(2026, 1, 1, tzinfo=UTC)  # body fills the gap
    assert call.headers == headers


def test_encode_a_copy_for_a_retry() -> None:
    original = encode(
        TaskMessage(
            id="i",
            name="t",
            args=[1],
            kwargs={"a": 2},
            origin="gen1@h",
            reply_to="r",
            headers={"x": 1},
        ),
        now=NOW,
    )
    call = decode(original)
    retry = dataclasses.replace(call, retries=1, eta=NOW, parent_id=call.id)
    message = encode(retry)
    expected = {**original.headers, "retries": 1, "eta": NOW.isoformat(), "parent_id": "i"}
    assert list(message.headers.items()) == list(expected.items())
    assert message.properties == original.properties
    assert message.body == original.body


def test_encode_can_change_serializer_and_compression() -> None:
    call = decode(encode(TaskMessage(id="i", name="t", args=[1], kwargs={"k": "v"})))
    message = encode(call, serializer="msgpack", compression="zlib")
    assert message.content_type == "application/x-msgpack"
    assert message.headers["compression"] == "application/x-gzip"
    again = decode(message)
    assert (again.args, again.kwargs) == ([1], {"k": "v"})
    assert encode(again).headers == call.headers


# --------------------------------------------------------------------------- malformed

GOOD = {"task": "t", "id": "i"}


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({}, [[], {}, EMPTY_EMBED], "no 'task' header"),
        ({}, {"args": []}, "no 'task' key"),
        ({"task": "t"}, [[], {}, EMPTY_EMBED], "'id'"),
        ({"task": "", "id": "i"}, [[], {}, EMPTY_EMBED], "'task'"),
        ({"task": "t", "id": 5}, [[], {}, EMPTY_EMBED], "'id'"),
        (GOOD, [[], {}], "3-item list.*got 2 items"),
        (GOOD, "args", "3-item list.*got type str"),
        (GOOD, 7, "3-item list.*got type int"),
        (GOOD, [{"a": 1}, {}, EMPTY_EMBED], "args must be a list, not dict"),
        (GOOD, [[], [], EMPTY_EMBED], "kwargs must be a dict, not list"),
        (GOOD, [[], {}, []], "third item must be a dict"),
        (GOOD, [[], {}, {**EMPTY_EMBED, "callbacks": {"task": "x"}}], "'callbacks'"),
        (GOOD, [[], {}, {**EMPTY_EMBED, "chord": [1]}], "'chord'"),
        (GOOD, [[], {}, {**EMPTY_EMBED, "chain": ["t"]}], "'chain' must hold signature dicts"),
        ({**GOOD, "eta": "tomorrow"}, [[], {}, EMPTY_EMBED], "'eta' is not an ISO 8601"),
        ({**GOOD, "expires": 12.5}, [[], {}, EMPTY_EMBED], "'expires' must be an ISO 8601"),
        ({**GOOD, "timelimit": [1]}, [[], {}, EMPTY_EMBED], "timelimit"),
        ({**GOOD, "timelimit": ["a", None]}, [[], {}, EMPTY_EMBED], "timelimit"),
        ({**GOOD, "retries": "many"}, [[], {}, EMPTY_EMBED], "'retries' must be an integer"),
        ({}, {"task": "t", "args": []}, "'id' body field"),
        ({}, {"task": "t", "id": "i", "kwargs": [1]}, "kwargs must be a dict"),
    ],
)
def test_malformed_messages_say_what_is_wrong(headers: Any, body: Any, reason: str) -> None:
    with pytest.raises(InvalidTaskError, match=reason):
        decode(_v2(headers, body))


def test_undecodable_bodies_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="json"):
        decode(Message(body=b"[[1], {", headers=dict(GOOD)))
    with pytest.raises(DecodeError, match="application/x-snappy"):
        decode(Message(body=b"...", headers={**GOOD, "compression": "application/x-snappy"}))


@pytest.mark.parametrize(
    "value",
    [(), (1,), (1, "two", 3.5, None, True, b"x"), [1, 2], {}, {"k": "v", 1: 2.5}, ("x" * 2000,)],
)
def test_saferepr_of_flat_values_is_the_writers(value: Any) -> None:
    """The shortcut for flat tuples, lists and dicts gives the same text as the writer."""
    from celeriac.protocol.saferepr import _ReprFull, _ReprWriter

    writer = _ReprWriter(1024, 3)
    try:
        writer.walk(value, 0)
        expected = "".join(writer.parts)
    except _ReprFull:
        suffix = "..." + "".join(reversed(writer.closers))
        expected = "".join(writer.parts)[: 1024 - len(suffix)] + suffix
    assert saferepr(value) == expected
