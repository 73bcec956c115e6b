"""The ``disabled`` backend stores nothing and says how to configure one when asked to read."""

from __future__ import annotations

import pytest

from celeriac.backends.disabled import DisabledBackend
from celeriac.backends.registry import create_backend
from celeriac.exceptions import ImproperlyConfigured


def test_disabled_backend() -> None:
    backend = create_backend("disabled")
    assert isinstance(backend, DisabledBackend)
    assert not backend.stores_results
    backend.store_many([("t1", {"status": "SUCCESS", "result": 1})])
    backend.store("t1", {"status": "SUCCESS"})
    for call in (
        lambda: backend.get("t1"),
        lambda: backend.forget("t1"),
        lambda: backend.get_group("g"),
        lambda: backend.save_group("g", {}),
        lambda: backend.forget_group("g"),
        lambda: backend.wait_for("t1", timeout=5),
    ):
        with pytest.raises(ImproperlyConfigured, match="set result_backend"):
            call()


async def test_disabled_backend_async() -> None:
    backend = DisabledBackend("disabled")
    with pytest.raises(ImproperlyConfigured, match="No result backend is configured"):
        await backend.await_for("t1", timeout=5)
