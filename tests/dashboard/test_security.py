"""Security by default: credentials, the read-only user, CSRF, the bind check, /metrics."""

from __future__ import annotations

import uuid

import pytest

from celeriac.dashboard.auth import AuthConfig, check_bind
from celeriac.exceptions import ImproperlyConfigured
from helpers.dashboard import DashFactory, task_events

WRITER = ("admin", "s3cret")
READER = ("viewer", "look")


def auth(**extra: object) -> AuthConfig:
    return AuthConfig.from_options(
        basic_auth=("admin:s3cret",),
        read_only=("viewer:look",),
        tokens=("tok-write",),
        **extra,  # type: ignore[arg-type]
    )


def test_everything_but_healthz_needs_credentials(make_dashboard: DashFactory) -> None:
    dash = make_dashboard(auth=auth())
    for path in (
        "/tasks",
        "/workers",
        "/api/v1/tasks",
        "/api/workers",
        "/metrics",
        "/api/openapi.json",
        "/static/app.js",
    ):
        response = dash.client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Basic")
    assert dash.client.get("/api/v1/tasks", auth=("admin", "wrong")).status_code == 401
    assert dash.client.get("/api/v1/tasks", auth=("nobody", "s3cret")).status_code == 401
    assert dash.client.get("/healthz").status_code == 200
    assert dash.client.get("/api/v1/tasks", auth=WRITER).status_code == 200
    assert dash.client.get("/tasks", auth=READER).status_code == 200
    bearer = {"Authorization": "Bearer tok-write"}
    assert dash.client.get("/api/v1/tasks", headers=bearer).status_code == 200
    assert (
        dash.client.get("/api/v1/tasks", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )


def test_the_read_only_user_can_look_but_not_act(make_dashboard: DashFactory) -> None:
    dash = make_dashboard(auth=auth())
    tid = str(uuid.uuid4())
    dash.feed(task_events(tid, state="failed"))
    assert dash.client.get(f"/api/v1/tasks/{tid}", auth=READER).status_code == 200
    assert dash.client.get("/api/v1/me", auth=READER).json() == {"role": "reader", "can_act": False}
    for path in (f"/api/v1/tasks/{tid}/revoke", f"/api/v1/tasks/{tid}/rerun",
                 "/api/v1/workers/w1@test/shutdown", "/api/task/async-apply/tasks.add",
                 f"/api/task/revoke/{tid}"):  # fmt: skip
        response = dash.client.post(path, auth=READER)
        assert response.status_code == 403, path
        assert "read-only" in response.json()["error"]
    assert dash.context.app.transport.queue_length("celery") == 0  # type: ignore[attr-defined]
    assert dash.client.post(f"/api/v1/tasks/{tid}/rerun", auth=WRITER).status_code == 200


def test_browser_actions_need_the_csrf_token(make_dashboard: DashFactory) -> None:
    dash = make_dashboard(auth=auth())
    tid = str(uuid.uuid4())
    path = f"/api/v1/tasks/{tid}/revoke"
    page = dash.client.get("/tasks", auth=WRITER)
    token = page.cookies["celeriac_csrf"]
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    origin = {"Origin": "http://127.0.0.1:5555"}
    # A form on a hostile page: the browser adds the credentials and cookie, not the header.
    refused = dash.client.post(path, auth=WRITER, headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    assert dash.client.post(path, auth=WRITER, headers=origin).status_code == 403
    wrong = {**origin, "X-CSRF-Token": "guess"}
    assert dash.client.post(path, auth=WRITER, headers=wrong).status_code == 403
    other_origin = {"Origin": "http://evil.example", "X-CSRF-Token": token}
    assert dash.client.post(path, auth=WRITER, headers=other_origin).status_code == 403
    ok = dash.client.post(path, auth=WRITER, headers={**origin, "X-CSRF-Token": token})
    assert ok.status_code == 200, ok.text
    # Scripts (no Origin, no cookie) and bearer tokens need no CSRF token.
    dash.client.cookies.clear()
    assert dash.client.post(path, auth=WRITER).status_code == 200
    assert (
        dash.client.post(
            path, headers={"Authorization": "Bearer tok-write", "Origin": "http://x"}
        ).status_code
        == 200
    )


def test_without_credentials_actions_still_need_csrf(make_dashboard: DashFactory) -> None:
    dash = make_dashboard()
    path = f"/api/v1/tasks/{uuid.uuid4()}/revoke"
    assert dash.client.post(path, headers={"Origin": "http://evil.example"}).status_code == 403
    token = dash.client.get("/tasks").cookies["celeriac_csrf"]
    ok = dash.client.post(path, headers={"Origin": "http://127.0.0.1:5555", "X-CSRF-Token": token})
    assert ok.status_code == 200


def test_metrics_sit_behind_auth_unless_public(make_dashboard: DashFactory) -> None:
    private = make_dashboard(auth=auth())
    assert private.client.get("/metrics").status_code == 401
    assert private.client.get("/metrics", auth=READER).status_code == 200
    public = make_dashboard(auth=auth(metrics_public=True))
    assert public.client.get("/metrics").status_code == 200
    assert public.client.get("/api/v1/tasks").status_code == 401


def test_a_public_address_needs_credentials_or_insecure() -> None:
    with pytest.raises(ImproperlyConfigured, match="without authentication"):
        check_bind("0.0.0.0", AuthConfig(), insecure=False)
    with pytest.raises(ImproperlyConfigured):
        check_bind("192.168.1.5", AuthConfig(), insecure=False)
    check_bind("127.0.0.1", AuthConfig(), insecure=False)
    check_bind("::1", AuthConfig(), insecure=False)
    check_bind("localhost", AuthConfig(), insecure=False)
    check_bind("0.0.0.0", AuthConfig(), insecure=True)
    check_bind("0.0.0.0", auth(), insecure=False)
    with pytest.raises(ImproperlyConfigured, match="user:password"):
        AuthConfig.from_options(basic_auth=("nocolon",))


def test_pages_send_a_content_security_policy(make_dashboard: DashFactory) -> None:
    page = make_dashboard().client.get("/tasks")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
