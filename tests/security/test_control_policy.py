"""Remote control: an allowlist and a denylist of commands, and signed senders only when
signing is on."""

from __future__ import annotations

import logging
import uuid

import pytest

from celeriac.worker.control_policy import ControlPolicy
from helpers.services import AppFactory, WorkerFactory

pytestmark = pytest.mark.timeout(60)

KEYS = "hmac:c1:" + "c" * 32


def node() -> str:
    return f"w{uuid.uuid4().hex[:8]}@sec"


def test_policy_rules() -> None:
    policy = ControlPolicy(
        allow=frozenset({"ping", "stats", "revoke"}), deny=frozenset({"terminate"})
    )
    assert policy.refusal("ping", {}) is None
    assert "not in worker_control_allowlist" in str(policy.refusal("shutdown", {}))
    assert "'terminate' is disabled" in str(policy.refusal("revoke", {"terminate": True}))
    assert policy.refusal("revoke", {"terminate": False}) is None


def test_allowlist_and_denylist_on_a_worker(make_app: AppFactory, worker: WorkerFactory) -> None:
    app = make_app(
        worker_control_allowlist=["ping", "stats", "shutdown", "revoke"],
        worker_control_denylist=["shutdown", "pool_restart", "terminate"],
    )
    name = node()
    controller = worker(app, hostname=name)
    control = app.control
    assert control.ping(destination=[name], timeout=5) == [{name: {"ok": "pong"}}]
    refused = control.broadcast("shutdown", destination=[name], reply=True, timeout=5)
    assert refused == [
        {name: {"error": "remote control command 'shutdown' is disabled (worker_control_denylist)"}}
    ]
    assert controller.thread.is_alive()
    not_listed = control.broadcast("active", destination=[name], reply=True, timeout=5)
    assert not_listed == [
        {name: {"error": "remote control command 'active' is not in worker_control_allowlist"}}
    ]
    terminate = control.revoke("x", terminate=True, destination=[name], reply=True, timeout=5)
    assert "'terminate' is disabled" in terminate[0][name]["error"]


def test_signed_worker_refuses_unsigned_control(
    make_app: AppFactory, worker: WorkerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(security_keys=KEYS)
    name = node()
    controller = worker(app, hostname=name)
    assert app.control.ping(destination=[name], timeout=5) == [{name: {"ok": "pong"}}]
    stranger = make_app()  # no key: its requests are not signed
    with caplog.at_level(logging.ERROR, logger="celery.worker.control"):
        assert (
            stranger.control.broadcast("shutdown", destination=[name], reply=True, timeout=1) == []
        )
    assert controller.thread.is_alive()
    assert any("refused a request: message is not signed" in r.getMessage() for r in caplog.records)
    assert app.control.ping(destination=[name], timeout=5) == [{name: {"ok": "pong"}}]
