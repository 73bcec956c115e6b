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
