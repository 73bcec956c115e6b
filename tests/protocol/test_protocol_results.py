"""Result meta: exception encoding/decoding, Celery's key order, date_done, result tuples."""

from __future__ import annotations

import datetime as dt
import json
import sys
import types
from typing import Any

import pytest

from celeriac.exceptions import DecodeError, Reject, TaskRevokedError
from celeriac.protocol.results import (
    FAILURE,
    READY_STATES,
    RETRY,
    REVOKED,
    SUCCESS,
    build_meta,
    decode_exception,
    encode_exception,
    group_tuple,
    meta_value,
    parse_date_done,
    result_tuple,
)

UTC = dt.UTC
DONE = dt.datetime(2026, 11, 22, 2, 45, 25, 832564, tzinfo=UTC)


class Outer:
    class InnerError(Exception):
        pass


class NeedsTwo(Exception):
    def __init__(self, a: Any, b: Any) -> None:
        super().__init__(a, b)


# --------------------------------------------------------------------------- exceptions


def test_encode_builtin_exception_like_celery() -> None:
    assert encode_exception(ValueError("boom")) == {
        "exc_type": "ValueError",
        "exc_message": ["boom"],
        "exc_module": "builtins",
    }
    assert encode_exception(KeyError("transient 7"))["exc_message"] == ["transient 7"]


def test_encode_uses_qualname_and_makes_args_json_safe() -> None:
    data = encode_exception(Outer.InnerError(1, object(), dt.date(2024, 1, 2), {"k": [1]}))
    assert data["exc_type"] == "Outer.InnerError"
    assert data["exc_module"] == __name__
    one, obj, date, mapping = data["exc_message"]
    assert (one, date, mapping) == (1, dt.date(2024, 1, 2), {"k": [1]})
    assert obj.startswith("<object object at")
    json.dumps(data, default=str)


def test_celeriac_exceptions_travel_under_celerys_module() -> None:
    assert encode_exception(TaskRevokedError("revoked")) == {
        "exc_type": "TaskRevokedError",
        "exc_message": ["revoked"],
        "exc_module": "celery.exceptions",
    }
    assert encode_exception(Reject("no thanks", False))["exc_message"] == ["no thanks", False]


def test_decode_builtin_and_nested_classes() -> None:
    exc = decode_exception(encode_exception(ValueError("boom")))
    assert type(exc) is ValueError and exc.args == ("boom",)
    nested = decode_exception(encode_exception(Outer.InnerError("x")))
    assert type(nested) is Outer.InnerError


def test_decode_celery_exceptions_as_celeriacs() -> None:
    exc = decode_exception(
        {
            "exc_type": "TaskRevokedError",
            "exc_message": ["expired"],
            "exc_module": "celery.exceptions",
        }
    )
    assert type(exc) is TaskRevokedError and exc.args == ("expired",)
    reject = decode_exception(
        {
            "exc_type": "Reject",
            "exc_message": ["no thanks", False],
            "exc_module": "celery.exceptions",
        }
    )
    assert isinstance(reject, Reject) and (reject.reason, reject.requeue) == ("no thanks", False)


def test_old_plain_string_message() -> None:
    exc = decode_exception(
        {"exc_type": "ValueError", "exc_message": "old", "exc_module": "builtins"}
    )
    assert exc.args == ("old",)


def test_unknown_module_gets_a_named_stand_in() -> None:
    data = {"exc_type": "Boom", "exc_message": ["bad"], "exc_module": "myapp.errors"}
    assert "myapp.errors" not in sys.modules
    exc = decode_exception(data)
    assert type(exc).__name__ == "Boom"
    assert type(exc).__module__ == "myapp.errors"
    assert isinstance(exc, Exception)
    assert str(exc) == "myapp.errors.Boom: bad"
    assert exc.args == ("bad",)
    assert "myapp.errors" not in sys.modules  # nothing was imported
    assert type(decode_exception(data)) is type(exc)  # one class per name
    assert encode_exception(exc) == data  # and it encodes back the same


def test_module_is_looked_up_only_among_imported_modules() -> None:
    fake = types.ModuleType("celeriac_fake_errors_mod")

    class FakeError(Exception):
        pass

    fake.FakeError = FakeError  # type: ignore[attr-defined]
    data = {"exc_type": "FakeError", "exc_message": [], "exc_module": fake.__name__}
    assert type(decode_exception(data)) is not FakeError
    sys.modules[fake.__name__] = fake
    try:
        assert type(decode_exception(data)) is FakeError
    finally:
        del sys.modules[fake.__name__]


@pytest.mark.parametrize(
    "data",
    [
        {"exc_type": "system", "exc_message": ["rm -rf /"], "exc_module": "os"},
        {"exc_type": "path", "exc_message": [], "exc_module": "sys"},
        {"exc_type": "int", "exc_message": ["1"], "exc_module": "builtins"},
    ],
)
def test_non_exceptions_are_never_called(data: dict[str, Any]) -> None:
    exc = decode_exception(data)
    assert type(exc).__module__ == data["exc_module"]
    assert f"{data['exc_module']}.{data['exc_type']}" in str(exc)


def test_construction_failure_falls_back_to_a_stand_in() -> None:
    data = encode_exception(NeedsTwo(1, 2))
    assert type(decode_exception(data)) is NeedsTwo
    exc = decode_exception({**data, "exc_message": [1]})
    assert type(exc) is not NeedsTwo
    assert type(exc).__name__ == "NeedsTwo"
    assert "NeedsTwo" in str(exc)


def test_missing_module_and_message() -> None:
    exc = decode_exception({"exc_type": "Gone"})
    assert type(exc).__name__ == "Gone"


@pytest.mark.parametrize("data", ["boom", None, 3, {"exc_message": ["x"]}, {"exc_type": ""}])
def test_malformed_exception_data(data: Any) -> None:
    with pytest.raises(DecodeError):
        decode_exception(data)


def test_exception_instance_passes_through() -> None:
    exc = ValueError("x")
    assert decode_exception(exc) is exc


# --------------------------------------------------------------------------- meta


def test_success_meta_in_celerys_order() -> None:
    meta = build_meta("tid", SUCCESS, 4, children=[], date_done=DONE)
    assert json.dumps(meta) == (
        '{"status": "SUCCESS", "result": 4, "traceback": null, "children": [], '
        '"date_done": "2026-11-22T02:45:25.832564+00:00", "task_id": "tid"}'
    )


def test_failure_meta_encodes_the_exception() -> None:
    meta = build_meta(
        "tid", FAILURE, ValueError("boom"), traceback="Traceback...", children=[], date_done=DONE
    )
    assert meta["result"] == {
        "exc_type": "ValueError",
        "exc_message": ["boom"],
        "exc_module": "builtins",
    }
    value = meta_value(meta)
    assert isinstance(value, ValueError) and value.args == ("boom",)


def test_group_parent_and_extended_keys() -> None:
    meta = build_meta(
        "tid",
        SUCCESS,
        10,
        children=[],
        date_done=DONE,
        group_id="gid",
        parent_id="pid",
        extended={
            "queue": "celery",
            "name": "tasks.add",
            "args": [5, 5],
            "kwargs": {},
            "stamps_x": 1,
        },
    )
    assert list(meta) == [
        "status",
        "result",
        "traceback",
        "children",
        "date_done",
        "group_id",
        "parent_id",
        "name",
        "args",
        "kwargs",
        "worker",
        "retries",
        "queue",
        "stamps_x",
        "task_id",
    ]
    assert (meta["worker"], meta["retries"], meta["queue"]) == (None, None, "celery")


def test_empty_group_and_parent_are_omitted() -> None:
    meta = build_meta("tid", RETRY, KeyError("k"), group_id="", parent_id=None)
    assert "group_id" not in meta and "parent_id" not in meta
    assert meta["date_done"] is None


def test_date_done_is_written_in_utc() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    meta = build_meta("t", SUCCESS, 1, date_done=dt.datetime(2026, 1, 1, 9, tzinfo=tokyo))
    assert meta["date_done"] == "2026-01-01T00:00:00+00:00"
    naive = build_meta("t", SUCCESS, 1, date_done=dt.datetime(2026, 1, 1))
    assert naive["date_done"] == "2026-01-01T00:00:00+00:00"


def test_meta_value() -> None:
    assert meta_value({"status": SUCCESS, "result": {"exc_type": "x"}}) == {"exc_type": "x"}
    assert meta_value({"status": "PENDING", "result": None}) is None
    revoked = meta_value(
        {
            "status": REVOKED,
            "result": {
                "exc_type": "TaskRevokedError",
                "exc_message": ["terminated"],
                "exc_module": "celery.exceptions",
            },
        }
    )
    assert isinstance(revoked, TaskRevokedError)
    assert meta_value({"status": FAILURE, "result": None}) is None
    assert READY_STATES == {SUCCESS, FAILURE, REVOKED}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-22T02:45:25.832564+00:00", DONE),
        ("2026-11-22T02:45:25.832564", DONE),  # Celery <= 5.3: naive UTC
        ("2026-11-22T11:45:25.832564+09:00", DONE),
        (DONE, DONE),
        (None, None),
        ("", None),
    ],
)
def test_parse_date_done(value: Any, expected: dt.datetime | None) -> None:
    parsed = parse_date_done(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


@pytest.mark.parametrize("value", ["yesterday", 12345])
def test_parse_date_done_rejects_garbage(value: Any) -> None:
    with pytest.raises(DecodeError, match="date_done"):
        parse_date_done(value)


# --------------------------------------------------------------------------- tuples


def test_result_and_group_tuples_match_celerys_as_tuple() -> None:
    assert result_tuple("a") == [["a", None], None]
    assert result_tuple("b", parent=result_tuple("a")) == [["b", [["a", None], None]], None]
    group = group_tuple("g", [result_tuple("1"), result_tuple("2")])
    assert json.dumps(group) == '[["g", null], [[["1", null], null], [["2", null], null]]]'


@pytest.mark.interop
def test_celery_reads_our_failure_meta() -> None:
    celery = pytest.importorskip("celery")
    from celery.backends.base import BaseBackend

    backend = BaseBackend(celery.Celery(set_as_current=False))
    meta = build_meta("t", FAILURE, ValueError("boom"), children=[], date_done=DONE)
    exc = backend.exception_to_python(meta["result"])
    assert type(exc) is ValueError and exc.args == ("boom",)
    revoked = backend.exception_to_python(encode_exception(TaskRevokedError("expired")))
    assert type(revoked) is celery.exceptions.TaskRevokedError
    assert backend.prepare_exception(KeyError("k")) == {
        **encode_exception(KeyError("k")),
        "exc_message": ("k",),
    }
