"""Serializer registry: round trips, kombu's typed JSON markers, accept_content refusal."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

import pytest

from celeriac.exceptions import ContentDisallowed, DecodeError, EncodeError
from celeriac.protocol.serializers import (
    accept_set,
    dumps,
    json_dumps,
    json_loads,
    loads,
    serializer_for,
)

PLAIN = {"a": [1, 2.5, "three", None, True], "nested": {"x": {"y": []}}, "unicode": "héllo ✓"}


@pytest.mark.parametrize(
    ("name", "content_type", "content_encoding"),
    [
        ("json", "application/json", "utf-8"),
        ("pickle", "application/x-python-serialize", "binary"),
        ("yaml", "application/x-yaml", "utf-8"),
        ("msgpack", "application/x-msgpack", "binary"),
    ],
)
def test_round_trip_every_serializer(name: str, content_type: str, content_encoding: str) -> None:
    ctype, cenc, payload = dumps(PLAIN, name)
    assert (ctype, cenc) == (content_type, content_encoding)
    assert isinstance(payload, bytes)
    assert loads(payload, ctype, cenc) == PLAIN
    assert loads(payload, ctype, cenc, accept=[name]) == PLAIN
    assert loads(payload, ctype, cenc, accept=[content_type]) == PLAIN


def test_json_is_kombu_text() -> None:
    # kombu: json.dumps defaults, so ", " / ": " separators and ASCII escapes.
    assert dumps({"a": [1, 2], "é": "✓"})[2] == b'{"a": [1, 2], "\\u00e9": "\\u2713"}'


TYPED: list[tuple[Any, dict[str, Any]]] = [
    (
        dt.datetime(2026, 11, 22, 2, 44, 44, 14047, tzinfo=dt.UTC),
        {"__type__": "datetime", "__value__": "2026-11-22T02:44:44.014047+00:00"},
    ),
    (
        dt.datetime(2026, 11, 22, 2, 44, 44),
        {"__type__": "datetime", "__value__": "2026-11-22T02:44:44"},
    ),
    (dt.date(2026, 11, 22), {"__type__": "date", "__value__": "2026-11-22"}),
    (dt.time(2, 44, 44, 5), {"__type__": "time", "__value__": "02:44:44.000005"}),
    (decimal.Decimal("3.14"), {"__type__": "decimal", "__value__": "3.14"}),
    (
        uuid.UUID("928de14d-4b25-4787-a22c-e58c0a125d8a"),
        {"__type__": "uuid", "__value__": {"hex": "928de14d4b254787a22ce58c0a125d8a"}},
    ),
    (b"text", {"__type__": "bytes", "__value__": "text"}),
    (b"\xff\x00\xfe", {"__type__": "base64", "__value__": "/wD+"}),
]


@pytest.mark.parametrize(("value", "marker"), TYPED, ids=[type(v).__name__ for v, _ in TYPED])
def test_kombu_typed_markers(value: Any, marker: dict[str, Any]) -> None:
    text = json_dumps({"v": value})
    assert json.loads(text) == {"v": marker}
    decoded = json_loads(text)["v"]
    assert decoded == value
    assert type(decoded) is type(value)


def test_typed_markers_inside_a_task_body() -> None:
    body = [[dt.date(2024, 1, 2)], {"amount": decimal.Decimal("1.10")}, {}]
    ctype, cenc, payload = dumps(body)
    assert loads(payload, ctype, cenc) == body


def test_marker_needs_exactly_two_keys() -> None:
    text = '{"__type__": "datetime", "__value__": "2024-01-02T00:00:00", "x": 1}'
    assert json_loads(text) == {
        "__type__": "datetime",
        "__value__": "2024-01-02T00:00:00",
        "x": 1,
    }


def test_old_kombu_plain_strings_stay_strings() -> None:
    # kombu <= 5.2 wrote datetimes as plain strings; they decode as strings.
    assert json_loads('["2024-01-02T00:00:00"]') == ["2024-01-02T00:00:00"]


def test_date_marker_accepts_a_datetime_string_like_kombu() -> None:
    assert json_loads('{"__type__": "date", "__value__": "2024-01-02T00:00:00"}') == dt.date(
        2024, 1, 2
    )


def test_json_dunder_json_is_used() -> None:
    class Point:
        def __json__(self) -> list[int]:
            return [1, 2]

    assert json_dumps({"p": Point()}) == '{"p": [1, 2]}'


def test_unknown_type_marker_is_a_decode_error() -> None:
    payload = b'{"__type__": "frobnicator", "__value__": 1}'
    with pytest.raises(DecodeError, match="frobnicator"):
        loads(payload, "application/json")


def test_unserializable_value_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="json"):
        dumps(object())


def test_unknown_serializer_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="bson"):
        dumps(1, "bson")
    with pytest.raises(EncodeError, match="bson"):
        serializer_for("bson")


def test_unknown_content_type_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="application/x-bson"):
        loads(b"", "application/x-bson")


def test_raw_data_passes_through() -> None:
    assert loads(b"\x00raw", "application/data", "binary") == b"\x00raw"


def test_bad_payload_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="json"):
        loads(b"{not json", "application/json")
    with pytest.raises(DecodeError, match="msgpack"):
        loads(b"\xc1", "application/x-msgpack", "binary")


@pytest.mark.parametrize(
    "accept", [["json"], ["application/json"], {"json", "msgpack"}, ("yaml", "json")]
)
def test_accept_content_refuses_pickle(accept: Any) -> None:
    ctype, cenc, payload = dumps({"x": 1}, "pickle")
    with pytest.raises(ContentDisallowed) as info:
        loads(payload, ctype, cenc, accept=accept)
    assert "application/x-python-serialize" in str(info.value)
    assert isinstance(info.value, DecodeError)


def test_empty_accept_refuses_everything() -> None:
    with pytest.raises(ContentDisallowed, match="nothing"):
        loads(b"1", "application/json", accept=[])


def test_accept_set_normalises_names_and_aliases() -> None:
    assert accept_set(["json", "yaml", "application/msgpack", "application/x-custom"]) == {
        "application/json",
        "application/x-yaml",
        "application/x-msgpack",
        "application/x-custom",
    }


@pytest.mark.interop
def test_kombu_reads_our_json_and_we_read_kombus() -> None:
    kombu_json = pytest.importorskip("kombu.utils.json")
    values = [v for v, _ in TYPED]
    ours = json_dumps(values)
    assert ours == kombu_json.dumps(values)
    assert kombu_json.loads(ours) == values
    assert json_loads(kombu_json.dumps(values)) == values
