"""Property tests: every decoder, fed arbitrary and almost-valid input, raises only its
documented decode error, returns within a deadline, and allocates a bounded amount."""

from __future__ import annotations

import base64
import bz2
import json
import lzma
import tracemalloc
import zlib
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celeriac.exceptions import DecodeError
from celeriac.protocol.compression import decompress
from celeriac.protocol.task_message import HEADER_KEYS

from .targets import MAX_SIZE, TARGETS, run

pytestmark = pytest.mark.timeout(300)

FAST = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=12), inner, max_size=5),
    ),
    max_leaves=30,
)
typed = st.fixed_dictionaries(
    {
        "__type__": st.sampled_from(
            ["datetime", "date", "time", "decimal", "uuid", "bytes", "base64", "nope"]
        ),
        "__value__": json_values,
    }
)
keys = st.sampled_from([*HEADER_KEYS, "compression", "task", "id", "x-celeriac-signature"])
headers = st.dictionaries(keys, st.one_of(json_values, st.text(max_size=40)), max_size=12)
signature_dicts = st.recursive(
    st.fixed_dictionaries(
        {"task": st.one_of(st.text(max_size=8), scalars)},
        optional={
            "args": json_values,
            "kwargs": json_values,
            "options": json_values,
            "subtask_type": st.sampled_from([None, "chain", "group", "chord", "x"]),
        },
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries(
            {"task": st.just("celery.chain"), "subtask_type": st.just("chain")},
            optional={"kwargs": st.fixed_dictionaries({"tasks": st.lists(inner, max_size=3)})},
        ),
        st.fixed_dictionaries(
            {"task": st.just("celery.chord"), "subtask_type": st.just("chord")},
            optional={
                "kwargs": st.fixed_dictionaries(
                    {"header": st.lists(inner, max_size=3), "body": inner}
                )
            },
        ),
        st.fixed_dictionaries(
            {"task": st.text(max_size=5), "options": st.fixed_dictionaries({"link": inner})}
        ),
    ),
    max_leaves=12,
)
embeds = st.fixed_dictionaries(
    {},
    optional={
        "callbacks": st.one_of(st.lists(signature_dicts, max_size=3), json_values),
        "errbacks": st.lists(signature_dicts, max_size=2),
        "chain": st.one_of(st.lists(signature_dicts, max_size=3), json_values),
        "chord": st.one_of(signature_dicts, json_values),
    },
)
bodies = st.one_of(
    st.tuples(json_values, json_values, st.one_of(embeds, json_values)).map(list),
    st.dictionaries(
        st.sampled_from(["task", "id", "args", "kwargs", "eta", "expires", "retries", "utc"]),
        st.one_of(json_values, typed),
        max_size=8,
    ),
    json_values,
    typed,
)


def _line(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()


def _envelope(hdrs: dict[str, Any], body: bytes, props: Any, encoding: str) -> bytes:
    return _line(
        {
            "body": base64.b64encode(body).decode() if encoding == "base64" else body.decode(),
            "content-type": "application/json",
            "content-encoding": "utf-8",
            "headers": hdrs,
            "properties": {**(props if isinstance(props, dict) else {}), "body_encoding": encoding},
        }
    )


@pytest.mark.parametrize("name", sorted(TARGETS))
@FAST
@given(data=st.binary(max_size=2000))
def test_random_bytes(name: str, data: bytes) -> None:
    TARGETS[name](data)


@FAST
@given(hdrs=headers, body=bodies, props=json_values, encoding=st.sampled_from(["base64", "x"]))
def test_almost_valid_task_messages(
    hdrs: dict[str, Any], body: Any, props: Any, encoding: str
) -> None:
    payload = _line(body)
    TARGETS["envelope"](_envelope(hdrs, payload, props, encoding))
    TARGETS["task"](_envelope(hdrs, payload, props, "base64"))
    TARGETS["task"](_line(hdrs) + b"\n" + payload)
    TARGETS["control"](_envelope(hdrs, payload, props, "base64"))


@FAST
@given(embed=embeds)
def test_canvas(embed: dict[str, Any]) -> None:
    TARGETS["canvas"](_line(embed))


@FAST
@given(
    meta=st.fixed_dictionaries(
        {
            "status": st.one_of(
                st.sampled_from(["SUCCESS", "FAILURE", "RETRY", "REVOKED", "X"]), json_values
            )
        },
        optional={
            "result": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "exc_type": st.one_of(st.text(max_size=20), scalars),
                        "exc_module": st.one_of(
                            st.sampled_from(["os", "builtins", "celery.exceptions", "sys"]),
                            st.text(max_size=20),
                            scalars,
                        ),
                        "exc_message": json_values,
                    },
                ),
            ),
            "date_done": st.one_of(st.text(max_size=30), scalars),
            "children": json_values,
        },
    )
)
def test_result_meta(meta: dict[str, Any]) -> None:
    TARGETS["result_meta"](_line(meta))


@FAST
@given(
    fields=st.lists(
        st.text(alphabet="0123456789*/-,abcdefghijklmnopqrstuvwxyz", max_size=12),
        min_size=5,
        max_size=5,
    )
)
def test_schedules(fields: list[str]) -> None:
    TARGETS["schedule"]("|".join(fields).encode())


@FAST
@given(header=st.lists(st.text(max_size=20), max_size=6).map(" ".join), body=st.binary(max_size=50))
def test_signature_headers(header: str, body: bytes) -> None:
    TARGETS["signature"](("v1 " + header).encode("utf-8", "replace") + b"\n" + body)


@pytest.mark.parametrize(
    "mime, packer",
    [
        ("application/x-gzip", zlib.compress),
        ("application/x-bz2", bz2.compress),
        ("application/x-lzma", lzma.compress),
    ],
)
def test_decompression_bombs_are_refused_without_inflating(mime: str, packer: Any) -> None:
    bomb = packer(b"\0" * (64 * MAX_SIZE))  # 64 MiB of zeros, a few KiB compressed
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError, match="larger than the limit"):
            decompress(bomb, mime, MAX_SIZE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MAX_SIZE  # lzma keeps an 8 MiB dictionary; never the 64 MiB


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=4000))
def test_allocation_is_bounded(data: bytes) -> None:
    """No input of a few KiB makes any decoder allocate more than a few MiB."""
    tracemalloc.start()
    try:
        run(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MAX_SIZE, peak
