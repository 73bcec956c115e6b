"""The Redis backend's low-level names that Celery's own tests use: ``client``,
``get_key_for_task``, ``get_key_for_group``, with ``store_result`` and the expiry settings."""

from __future__ import annotations

import uuid

from celeriac import states
from celeriac.backends.base import BackendOptions
from celeriac.backends.registry import create_backend
from helpers.services import redis_keyspace


def test_client_and_keys_are_celerys() -> None:
    with redis_keyspace("k") as space:
        backend = create_backend(
            space.url_with_prefix, BackendOptions(expires=60, failure_expires=600)
        )
        try:
            ok, failed = str(uuid.uuid4()), str(uuid.uuid4())
            backend.store_result(ok, 42, states.SUCCESS)
            backend.store_result(failed, KeyError("x"), states.FAILURE)
            client = backend.client  # type: ignore[attr-defined]
            ok_key = backend.get_key_for_task(ok)  # type: ignore[attr-defined]
            assert ok_key.endswith("celery-task-meta-" + ok)
            assert backend.decode(client.get(ok_key))["result"] == 42
            assert 0 < client.ttl(ok_key) <= 60
            fail_key = backend.get_key_for_task(failed)  # type: ignore[attr-defined]
            assert 60 < client.ttl(fail_key) <= 600
            group_id = str(uuid.uuid4())
            key = backend.get_key_for_group(group_id, ".s")  # type: ignore[attr-defined]
            assert key.endswith("celery-taskset-meta-" + group_id + ".s")
            backend.set_chord_size(group_id, 3)  # type: ignore[attr-defined]
            assert int(client.get(key)) == 3
            client.delete(key, ok_key, fail_key)
        finally:
            backend.close()


def test_result_compression_in_celerys_envelope() -> None:
    from celeriac.protocol.result_compression import MAGIC

    with redis_keyspace("z") as space:
        writer = create_backend(space.url_with_prefix, BackendOptions(compression="gzip"))
        reader = create_backend(space.url_with_prefix, BackendOptions())
        try:
            task_id = str(uuid.uuid4())
            writer.store_result(task_id, {"text": "hello " * 50}, states.SUCCESS)
            raw = writer.client.get(writer.get_key_for_task(task_id))  # type: ignore[attr-defined]
            assert raw.startswith(MAGIC + b"application/x-gzip\x00")
            assert reader.get_result(task_id) == {"text": "hello " * 50}
            assert writer.wait_for(task_id, timeout=5)["result"] == {"text": "hello " * 50}
        finally:
            writer.close()
            reader.close()


def test_decode_responses_turns_compression_off() -> None:
    import pytest

    with redis_keyspace("d") as space:
        with pytest.warns(UserWarning, match="decode_responses"):
            backend = create_backend(
                space.url_with_prefix + "&decode_responses=true",
                BackendOptions(compression="gzip"),
            )
        try:
            assert backend.compression is None
            task_id = str(uuid.uuid4())
            backend.store_result(task_id, [1, "a"], states.SUCCESS)
            raw = backend.client.get(backend.get_key_for_task(task_id))  # type: ignore[attr-defined]
            assert isinstance(raw, str)
            assert backend.wait_for(task_id, timeout=5)["result"] == [1, "a"]
        finally:
            backend.close()


def test_compression_where_bytes_cannot_be_stored_warns() -> None:
    import pytest

    with pytest.warns(UserWarning, match="cannot store compressed"):
        backend = create_backend("memory://", BackendOptions(compression="gzip"))
    assert backend.compression is None
