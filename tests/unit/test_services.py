"""The tests' own service helpers: the skip-or-fail rule, the probes, Redis keyspaces."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from helpers import services


def test_a_missing_service_skips_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nothing on port 1"):
        services.unavailable("nothing on port 1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"nothing on port 1.*CI is set"):
        services.unavailable("nothing on port 1")


def test_probes_find_the_local_rabbitmq_postgresql_and_mariadb() -> None:
    assert services.rabbitmq_url() == services.RABBITMQ_URL
    assert services.postgres_url() == services.POSTGRES_URL
    assert services.mysql_url() == services.MYSQL_URL


def test_a_mariadb_database_of_its_own_is_dropped_at_the_end() -> None:
    with services.mysql_database("unit") as url:
        name = url.rsplit("/", 1)[1]
        assert name.startswith("celeriac_unit_")
        services.mysql_admin(f"CREATE TABLE `{name}`.t (i INT)")
    with pytest.raises(Exception, match="Unknown database"):
        services.mysql_admin(f"CREATE TABLE `{name}`.t (i INT)")


@pytest.mark.parametrize(
    ("probe", "setting"),
    [
        (services.rabbitmq_url, "RABBITMQ_URL"),
        (services.postgres_url, "POSTGRES_URL"),
        (services.mysql_url, "MYSQL_URL"),
    ],
)
def test_a_probe_of_a_closed_port_applies_the_rule(
    probe: object, setting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(services, setting, f"x://127.0.0.1:{services.free_port()}/")
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        probe()  # type: ignore[operator]


def test_a_probe_of_a_server_of_another_kind_applies_the_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    postgres = services.POSTGRES_URL.replace("postgresql://", "amqp://")
    monkeypatch.setattr(services, "RABBITMQ_URL", postgres)
    with pytest.raises(pytest.skip.Exception, match="does not speak AMQP"):
        services.rabbitmq_url()
    with socket.create_server(("127.0.0.1", 0)) as server:  # speaks first, not MySQL
        port = server.getsockname()[1]
        greeter = threading.Thread(target=lambda: server.accept()[0].sendall(b"SSH-2.0-x\r\n"))
        greeter.start()
        monkeypatch.setattr(services, "MYSQL_URL", f"mysql://u@127.0.0.1:{port}/db")
        with pytest.raises(pytest.skip.Exception, match="does not greet like MySQL"):
            services.mysql_url()
        greeter.join()


def test_a_redis_keyspace_deletes_its_keys_and_nothing_else() -> None:
    with services.redis_keyspace("unit") as outer:
        with services.redis_keyspace("unit") as inner:
            assert outer.prefix != inner.prefix
            outer.client.set(outer.key("a"), 1)
            inner.client.set(inner.key("b"), 2)
        assert outer.client.get(outer.key("a")) == b"1"  # another test's key stays
        assert outer.client.exists(inner.key("b")) == 0
    with services.redis_keyspace("unit") as check:
        assert check.client.exists(outer.key("a")) == 0


def test_a_store_keeps_a_tests_transport_options_and_its_prefix(tmp_path: Path) -> None:
    with services.fresh_store("redis", tmp_path, "unit") as store:
        settings = store.app_settings(broker_transport_options={"visibility_timeout": 5})
        assert settings["broker_transport_options"] == {
            "global_keyprefix": store.prefix,
            "visibility_timeout": 5,
        }
        assert settings["result_backend_transport_options"] == {"global_keyprefix": store.prefix}
    with services.fresh_store("sqlite", tmp_path, "unit") as store:
        assert store.url == f"sqlite:///{tmp_path / 'unit.db'}" and store.prefix is None


def test_excluding_a_transport_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        services.transports_except("redis", reason=" ")
    mark = services.transports_except("redis", reason="documented")
    assert mark.args == ("transport_kind", ["memory", "sqlite"])
