"""Settings table, the Settings mapping, the config loader and the generated reference."""

from __future__ import annotations

import contextlib
import copy
import pickle
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from celeriac.config import (
    CELERY_DEFAULTS,
    OLD_NAMES,
    SETTINGS,
    Settings,
    UnknownSettingWarning,
    settings_from_envvar,
    settings_from_object,
)
from celeriac.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a throwaway config module under tmp_path; return its dotted name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    package = f"cfgtest_{uuid.uuid4().hex[:10]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")

    def make(source: str, name: str = "celeryconfig") -> str:
        (tmp_path / package / f"{name}.py").write_text(textwrap.dedent(source))
        return f"{package}.{name}"

    return make


@contextlib.contextmanager
def _no_warnings() -> Iterator[None]:
    """Fail the test if an UnknownSettingWarning is emitted."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownSettingWarning)
        yield


# -- the table --------------------------------------------------------------------------------


def test_table_is_consistent():
    for name, setting in SETTINGS.items():
        assert setting.name == name
        assert name == name.lower() and name.isidentifier()
        assert setting.doc and "\n" not in setting.doc and setting.doc.endswith((".", "?"))
        for old in setting.old_names:
            assert old == old.upper()
            assert OLD_NAMES[old] == name
    assert set(OLD_NAMES.values()) <= set(SETTINGS)
    assert len(SETTINGS) > 200


def test_every_default_passes_its_own_validation():
    with _no_warnings():
        conf = Settings({name: s.default for name, s in SETTINGS.items()})
    assert conf.changes() == {}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("BROKER_URL", "broker_url"),
        ("CELERY_RESULT_BACKEND", "result_backend"),
        ("BROKER_TRANSPORT_OPTIONS", "broker_transport_options"),
        ("CELERY_TASK_SERIALIZER", "task_serializer"),
        ("CELERYD_CONCURRENCY", "worker_concurrency"),
        ("CELERY_ALWAYS_EAGER", "task_always_eager"),
        ("CELERYBEAT_SCHEDULE", "beat_schedule"),
        ("CELERY_TASK_RESULT_EXPIRES", "result_expires"),
        ("CELERY_MAX_CACHED_RESULTS", "result_cache_max"),
        ("CELERYD_TASK_SOFT_TIME_LIMIT", "task_soft_time_limit"),
        ("CELERY_ENABLE_UTC", "enable_utc"),
        ("CELERY_ROUTES", "task_routes"),
        ("CELERY_SEND_EVENTS", "worker_send_task_events"),
    ],
)
def test_old_names(old, new):
    assert OLD_NAMES[old] == new


def test_celeriac_only_settings():
    for name, default in [
        ("task_max_deliveries", 5),
        ("task_message_max_size", 64 * 1024 * 1024),
        ("worker_async_slots", 100),
    ]:
        assert SETTINGS[name].default == default
        assert SETTINGS[name].type is int
        assert "celeriac only" in SETTINGS[name].doc


@pytest.mark.interop
def test_covers_celery_settings_with_celery_defaults_and_old_names():
    defaults = pytest.importorskip("celery.app.defaults")
    for name, value in defaults.DEFAULTS.items():
        assert name in SETTINGS, name
        if name in CELERY_DEFAULTS:
            assert CELERY_DEFAULTS[name] == value, name
        else:
            assert SETTINGS[name].default == value, name
    for old, new in defaults._TO_NEW_KEY.items():
        assert OLD_NAMES.get(old) == new, old


# -- defaults and access ----------------------------------------------------------------------


def test_defaults():
    conf = Settings()
    assert conf.broker_url is None
    assert conf.result_backend is None
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_serializer == "json"
    assert conf.accept_content == ("json",)
    assert conf.result_expires == timedelta(days=1)
    assert conf.worker_prefetch_multiplier == 4
    assert conf.task_max_deliveries == 5
    assert len(conf) == len(SETTINGS)
    assert CELERY_DEFAULTS == {"task_acks_late": False, "task_reject_on_worker_lost": None}


def test_mutable_defaults_are_not_shared():
    first, second = Settings(), Settings()
    first.beat_schedule["tick"] = {"task": "t", "schedule": 1.0}
    first.broker_transport_options["visibility_timeout"] = 10
    assert second.beat_schedule == {}
    assert second.broker_transport_options == {}
    assert SETTINGS["beat_schedule"].default == {}


def test_attribute_and_item_access():
    conf = Settings()
    conf.broker_url = "memory://"
    assert conf["broker_url"] == "memory://"
    conf["task_default_queue"] = "default"
    assert conf.task_default_queue == "default"
    assert conf.get("task_default_queue") == "default"
    assert conf.get("no_such_key", "fallback") == "fallback"
    assert "broker_url" in conf
    assert "no_such_key" not in conf
    with pytest.raises(KeyError):
        conf["no_such_key"]
    with pytest.raises(AttributeError, match="did you mean 'broker_url'"):
        conf.broker_ur  # noqa: B018
    with pytest.raises(AttributeError, match="Settings method"):
        conf.update = 1  # type: ignore[method-assign]


def test_constructor_accepts_mapping_and_keywords():
    conf = Settings({"BROKER_URL": "memory://"}, task_always_eager=True)
    assert conf.broker_url == "memory://"
    assert conf.task_always_eager is True


def test_old_names_translate_once_and_read_back():
    conf = Settings()
    conf.update({"BROKER_URL": "redis://", "CELERYD_CONCURRENCY": 3}, CELERY_ALWAYS_EAGER=True)
    assert conf.broker_url == "redis://"
    assert conf.worker_concurrency == 3
    assert conf.task_always_eager is True
    assert "BROKER_URL" not in list(conf)
    assert conf["CELERY_ALWAYS_EAGER"] is True
    assert conf.CELERYD_CONCURRENCY == 3
    assert "CELERYD_CONCURRENCY" in conf
    conf["CELERY_RESULT_BACKEND"] = "memory://"
    assert conf.result_backend == "memory://"


def test_old_and_new_name_with_different_values_is_an_error():
    conf = Settings()
    with pytest.raises(ImproperlyConfigured, match="'BROKER_URL' and 'broker_url'"):
        conf.update(BROKER_URL="redis://a", broker_url="redis://b")
    conf.update(BROKER_URL="redis://a", broker_url="redis://a")
    assert conf.broker_url == "redis://a"


def test_update_is_all_or_nothing():
    conf = Settings()
    with pytest.raises(ImproperlyConfigured):
        conf.update(broker_url="redis://", worker_concurrency=1.5)
    assert conf.broker_url is None


def test_find():
    conf = Settings()
    assert conf.find("broker_url") is SETTINGS["broker_url"]
    assert conf.find("CELERYD_CONCURRENCY") is SETTINGS["worker_concurrency"]
    assert conf.find("Task_Serializer") is SETTINGS["task_serializer"]
    assert conf.find("nothing_like_it") is None


def test_changes_copy_delete_and_clear():
    conf = Settings(broker_url="memory://")
    with pytest.warns(UnknownSettingWarning):
        conf["custom_thing"] = {"a": 1}
    assert conf.changes() == {"broker_url": "memory://", "custom_thing": {"a": 1}}
    clone = conf.copy()
    clone.broker_url = "redis://"
    clone["custom_thing"]["a"] = 2
    assert conf.broker_url == "memory://"
    assert conf["custom_thing"] == {"a": 1}
    assert copy.copy(conf) == conf
    assert copy.deepcopy(conf) == conf
    assert pickle.loads(pickle.dumps(conf)) == conf
    del conf.broker_url
    assert conf.broker_url is None
    del conf["custom_thing"]
    assert "custom_thing" not in conf
    conf.task_always_eager = True
    conf.clear()
    assert conf.changes() == {}
    assert len(conf) == len(SETTINGS)


def test_explicit_keeps_settings_given_at_their_default_and_names_old_ones():
    # Celery's conf.table() (and so `inspect conf`) lists what was set, even to a default.
    conf = Settings(enable_utc=True, CELERY_RESULT_BACKEND="redis://", timezone="UTC")
    conf.worker_concurrency = 3
    assert conf.changes() == {
        "result_backend": "redis://",
        "timezone": "UTC",
        "worker_concurrency": 3,
    }
    assert conf.explicit() == {
        "enable_utc": True,
        "result_backend": "redis://",
        "timezone": "UTC",
        "worker_concurrency": 3,
    }
    assert conf.deprecated_names() == ["CELERY_RESULT_BACKEND"]
    assert conf.copy().explicit() == conf.explicit()
    assert pickle.loads(pickle.dumps(conf)).explicit() == conf.explicit()
    del conf.enable_utc
    assert "enable_utc" not in conf.explicit()
    conf.clear()
    assert conf.explicit() == {} and conf.deprecated_names() == []


# -- unknown keys -----------------------------------------------------------------------------


def test_misspelled_setting_warns_with_suggestion_and_is_kept():
    conf = Settings()
    with pytest.warns(UnknownSettingWarning, match="did you mean 'task_serializer'") as record:
        conf.update(task_serialiser="msgpack")
    assert "'task_serialiser'" in str(record[0].message)
    assert record[0].filename == __file__
    assert conf["task_serialiser"] == "msgpack"
    assert conf.task_serializer == "json"


def test_misspelled_old_name_suggests_old_and_new_name():
    with pytest.warns(UnknownSettingWarning, match="'CELERY_ALWAYS_EAGER' .*'task_always_eager'"):
        Settings(CELERY_ALWAYS_EAGRE=True)


def test_namespaced_name_without_namespace_hints_at_namespace():
    with pytest.warns(UnknownSettingWarning, match="'broker_url'.*namespace='CELERY'"):
        Settings(CELERY_BROKER_URL="redis://")


def test_unrelated_custom_key_warns_without_suggestion():
    conf = Settings()
    with pytest.warns(UnknownSettingWarning, match="no setting has a similar name"):
        conf.myproject_flag = True
    assert conf.myproject_flag is True


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("worker_concurrency", 2.5, "int | str"),
        ("task_acks_late", "yes", "bool"),
        ("broker_pool_limit", True, "int"),
        ("task_serializer", None, "str"),
        ("broker_transport_options", ["a"], "dict"),
        ("accept_content", [1, 2], "list of strings"),
        ("task_time_limit", "10", "float"),
        ("result_expires", "1 day", "float | timedelta"),
    ],
)
def test_wrong_type_names_setting_type_and_value(key, value, expected):
    with pytest.raises(ImproperlyConfigured) as info:
        Settings({key: value})
    message = str(info.value)
    assert repr(key) in message
    assert expected in message
    assert repr(value) in message or type(value).__name__ in message


def test_wrong_type_under_old_name_mentions_it():
    with pytest.raises(
        ImproperlyConfigured, match=r"'worker_concurrency' \(given as 'CELERYD_CONCURRENCY'\)"
    ):
        Settings(CELERYD_CONCURRENCY=[4])


def test_wrong_type_of_a_secret_is_not_echoed():
    with pytest.raises(ImproperlyConfigured) as info:
        Settings(redis_password=123456)
    assert "123456" not in str(info.value)


def test_choices():
    with pytest.raises(ImproperlyConfigured, match="one of 1, 2"):
        Settings(task_protocol=3)
    assert Settings(task_default_queue_type="quorum").task_default_queue_type == "quorum"


def test_accepted_coercions():
    conf = Settings()
    conf.broker_connection_timeout = 10  # int for float
    conf.result_expires = 3600
    conf.result_expires = None  # nullable although the default is not None
    conf.task_time_limit = None  # default is None
    conf.accept_content = "json, msgpack"
    conf.include = "proj.tasks,proj.other"
    conf.imports = ["proj.a"]
    conf.task_routes = lambda *a, **k: None  # any
    conf.worker_concurrency = "auto"
    assert conf.accept_content == ("json", "msgpack")
    assert conf.include == ("proj.tasks", "proj.other")
    assert conf.broker_connection_timeout == 10
    with pytest.raises(ImproperlyConfigured, match="'task_max_deliveries' expects int,"):
        conf.task_max_deliveries = None


# -- humanize ---------------------------------------------------------------------------------


def test_humanize_masks_secrets():
    conf = Settings(
        broker_url="amqp://guest:s3cret@rabbit:5672//",
        result_backend="redis://:hunter2@redis:6379/0?password=alsosecret",
        broker_transport_options={"sentinel_kwargs": {"password": "deep"}, "region": "eu"},
        redis_password="plain",
        task_default_queue="jobs",
    )
    text = conf.humanize()
    for secret in ("s3cret", "hunter2", "alsosecret", "deep", "plain"):
        assert secret not in text
    assert "broker_url: 'amqp://guest:********@rabbit:5672//'" in text.splitlines()
    assert "task_default_queue: 'jobs'" in text.splitlines()
    assert "'region': 'eu'" in text
    assert "task_serializer" not in text
    assert "s3cret" not in repr(conf)
    full = conf.humanize(with_defaults=True)
    assert "task_serializer: 'json'" in full.splitlines()
    assert len(full.splitlines()) == len(conf)


# -- loader -----------------------------------------------------------------------------------

CELERYCONFIG = """
    import os
    from datetime import timedelta

    broker_url = "redis://localhost/0"
    CELERYD_CONCURRENCY = 3
    task_serialiser = "json"
    result_expires = timedelta(hours=1)
    DEBUG = True
    _private = 1

    def helper():
        return 1

    class Helper:
        pass
"""

DJANGO_SETTINGS = """
    DEBUG = True
    SECRET_KEY = "x"
    INSTALLED_APPS = ["django.contrib.admin"]
    CELERY_BROKER_URL = "amqp://"
    CELERY_RESULT_BACKEND = "db+sqlite:///results.db"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_CELERYD_PREFETCH_MULTIPLIER = 1
    CELERY_DEFAULT_QUEUE = "jobs"
    CELERY_RESULTS_EXTENDED = True

    class LazySettings:
        CELERY_BROKER_URL = "redis://"
        CELERY_WORKER_CONCURRENCY = 2
        DEBUG = False

    settings = LazySettings()
"""


def test_from_module_object_without_namespace(make_module):
    import importlib

    module = importlib.import_module(make_module(CELERYCONFIG))
    assert settings_from_object(module) == {
        "broker_url": "redis://localhost/0",
        "worker_concurrency": 3,
        "task_serialiser": "json",
        "result_expires": timedelta(hours=1),
    }


def test_from_dotted_path_and_misspelling_warns(make_module):
    found = settings_from_object(make_module(CELERYCONFIG))
    assert found["worker_concurrency"] == 3
    conf = Settings()
    with pytest.warns(UnknownSettingWarning, match="did you mean 'task_serializer'"):
        conf.update(found)
    assert conf.broker_url == "redis://localhost/0"


def test_namespace_from_module(make_module):
    found = settings_from_object(make_module(DJANGO_SETTINGS, "settings"), namespace="CELERY")
    assert found == {
        "broker_url": "amqp://",
        "result_backend": "db+sqlite:///results.db",
        "task_always_eager": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "jobs",
        "results_extended": True,
    }
    with pytest.warns(UnknownSettingWarning, match="did you mean 'result_extended'"):
        Settings(found)


def test_namespace_from_module_attr_string(make_module):
    path = make_module(DJANGO_SETTINGS, "settings") + ":settings"
    found = settings_from_object(path, namespace="CELERY")
    assert found == {"broker_url": "redis://", "worker_concurrency": 2}
    with _no_warnings():
        conf = Settings(found)
    assert conf.worker_concurrency == 2


def test_namespace_trailing_underscore_is_tolerated(make_module):
    path = make_module(DJANGO_SETTINGS, "settings") + ":settings"
    assert settings_from_object(path, namespace="CELERY_") == settings_from_object(
        path, namespace="CELERY"
    )


def test_from_class_and_mapping():
    class Config:
        broker_url = "memory://"
        BROKER_TRANSPORT_OPTIONS = {"a": 1}

        def method(self):
            return 1

    assert settings_from_object(Config) == {
        "broker_url": "memory://",
        "broker_transport_options": {"a": 1},
    }
    assert settings_from_object({"CELERY_TASK_SERIALIZER": "json", "x": 1}, namespace="CELERY") == {
        "task_serializer": "json"
    }


def test_same_setting_twice_with_different_values_is_an_error():
    class Config:
        broker_url = "redis://a"
        BROKER_URL = "redis://b"

    with pytest.raises(ImproperlyConfigured, match="'BROKER_URL'"):
        settings_from_object(Config)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("raise RuntimeError('config exploded')\n", "RuntimeError: config exploded"),
        (
            "import nosuchdependency_zz\n",
            "ModuleNotFoundError: No module named 'nosuchdependency_zz'",
        ),
        ("x = (\n", "SyntaxError"),
    ],
)
def test_errors_importing_the_config_module_are_one_clear_line(make_module, source, expected):
    path = make_module(source)
    with pytest.raises(ImproperlyConfigured) as info:
        settings_from_object(path)
    message = str(info.value)
    assert "\n" not in message
    assert repr(path) in message
    assert expected in message


def test_missing_config_module_and_attribute(make_module):
    path = make_module("x = 1\n")
    with pytest.raises(ImproperlyConfigured, match="no module named"):
        settings_from_object(path + "_missing")
    with pytest.raises(ImproperlyConfigured, match="has no attribute 'settings'"):
        settings_from_object(path + ":settings")


def test_from_envvar(make_module, monkeypatch):
    path = make_module(CELERYCONFIG)
    monkeypatch.setenv("CELERIAC_TEST_CONFIG", path)
    assert settings_from_envvar("CELERIAC_TEST_CONFIG")["broker_url"] == "redis://localhost/0"


@pytest.mark.parametrize("value", [None, "", "  "])
def test_from_envvar_unset_names_the_variable(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CELERIAC_TEST_CONFIG", raising=False)
    else:
        monkeypatch.setenv("CELERIAC_TEST_CONFIG", value)
    with pytest.raises(ImproperlyConfigured, match="CELERIAC_TEST_CONFIG is not set"):
        settings_from_envvar("CELERIAC_TEST_CONFIG")


def test_from_envvar_bad_module_names_module_and_variable(monkeypatch):
    monkeypatch.setenv("CELERIAC_TEST_CONFIG", "nosuchpkg_zz.config")
    with pytest.raises(ImproperlyConfigured) as info:
        settings_from_envvar("CELERIAC_TEST_CONFIG")
    assert "nosuchpkg_zz" in str(info.value)
    assert "CELERIAC_TEST_CONFIG" in str(info.value)


# -- generated reference ----------------------------------------------------------------------


def _gen_docs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_docs.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_configuration_docs_are_up_to_date():
    result = _gen_docs("--check")
    assert result.returncode == 0, result.stderr


def test_docs_check_detects_stale_file(tmp_path):
    stale = tmp_path / "configuration.md"
    stale.write_text("old\n")
    result = _gen_docs("--check", "--output", str(stale))
    assert result.returncode == 1
    assert "out of date" in result.stderr
    assert _gen_docs("--output", str(stale)).returncode == 0
    assert _gen_docs("--check", "--output", str(stale)).returncode == 0
    text = stale.read_text()
    assert "Generated by scripts/gen_config_docs.py" in text
    for name in SETTINGS:
        assert f"| `{name}` |" in text


# -- Django's settings of the same names ------------------------------------------------------

#: Django's settings that celeriac reads under the same (Celery 3) names.
DJANGO_NAMES = {
    "ADMINS": "admins",
    "SERVER_EMAIL": "server_email",
    "EMAIL_HOST": "email_host",
    "EMAIL_PORT": "email_port",
    "EMAIL_HOST_USER": "email_host_user",
    "EMAIL_HOST_PASSWORD": "email_host_password",
    "EMAIL_USE_SSL": "email_use_ssl",
    "EMAIL_USE_TLS": "email_use_tls",
    "EMAIL_TIMEOUT": "email_timeout",
}


def test_djangos_defaults_pass_validation_with_and_without_namespace():
    global_settings = pytest.importorskip("django.conf.global_settings")
    with _no_warnings():
        plain = settings_from_object(global_settings)
        namespaced = settings_from_object(global_settings, namespace="CELERY")
        conf = Settings(plain)
        Settings(namespaced)
    assert set(plain) == set(DJANGO_NAMES.values())  # Django's defaults celeriac reads
    assert namespaced == {}
    assert conf.email_timeout is None  # Django's EMAIL_TIMEOUT default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EMAIL_TIMEOUT", None),
        ("EMAIL_TIMEOUT", 10),
        ("EMAIL_TIMEOUT", 2.5),
        ("ADMINS", []),
        ("ADMINS", [("Ops", "ops@example.com")]),
        ("ADMINS", (("Ops", "ops@example.com"),)),
        ("ADMINS", ["ops@example.com"]),  # Django 6's form
        ("SERVER_EMAIL", "root@localhost"),
        ("EMAIL_HOST", "smtp.example.com"),
        ("EMAIL_PORT", 587),
        ("EMAIL_HOST_USER", ""),
        ("EMAIL_HOST_PASSWORD", ""),
        ("EMAIL_USE_TLS", True),
        ("EMAIL_USE_SSL", False),
        # CELERY_TIMEZONE = TIME_ZONE and CELERY_ENABLE_UTC = USE_TZ, as projects write them
        ("CELERY_TIMEZONE", "Europe/Kyiv"),
        ("CELERY_TIMEZONE", None),
        ("CELERY_ENABLE_UTC", False),
    ],
)
def test_values_django_allows_for_its_settings_are_accepted(name, value):
    conf = Settings({name: value})
    assert conf[name] == value


# -- declared queues --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_queues", "expected"),
    [
        (None, ["celery"]),
        ([], ["celery"]),
        (["a", "b"], ["a", "b"]),
        ({"a": {"exchange": "a"}, "b": {}}, ["a", "b"]),  # a dict by queue name
        ([{"name": "a"}, type("Queue", (), {"name": "b"})()], ["a", "b"]),  # dicts, objects
    ],
)
def test_declared_queues(task_queues, expected):
    from celeriac.config.queues import declared_queues

    assert declared_queues(Settings(task_queues=task_queues)) == expected


def test_declared_queues_reject_a_value_that_is_not_a_collection():
    from celeriac.config.queues import declared_queues

    with pytest.raises(ImproperlyConfigured, match="'task_queues' expects a list of queues"):
        declared_queues(Settings(task_queues=5))


# -- generated static types -------------------------------------------------------------------


def _gen_types(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_settings_types.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_settings_types_are_up_to_date():
    result = _gen_types("--check")
    assert result.returncode == 0, result.stderr


def test_types_check_detects_stale_file(tmp_path):
    stale = tmp_path / "settings_types.py"
    stale.write_text("old\n")
    result = _gen_types("--check", "--output", str(stale))
    assert result.returncode == 1
    assert "out of date" in result.stderr
    assert _gen_types("--output", str(stale)).returncode == 0
    assert _gen_types("--check", "--output", str(stale)).returncode == 0
    text = stale.read_text()
    for name in SETTINGS:
        assert f"        {name}: " in text or f"def {name}(self) -> " in text, name
    assert "        task_time_limit: float | None\n" in text
    assert "def accept_content(self, value: StringList | str) -> None: ..." in text


def test_settings_types_do_not_exist_at_run_time():
    # The attributes are for type checkers: at run time every read goes to __getattr__,
    # so a class attribute never shadows a value.
    assert not any(hasattr(Settings, name) for name in SETTINGS)
    conf = Settings(task_time_limit=5)
    assert conf.task_time_limit == 5


# -- update sources ---------------------------------------------------------------------------


def test_update_reads_anything_with_keys_as_a_mapping_like_dict_update():
    class Keyed:
        def keys(self):
            return ["task_time_limit", "CELERY_DEFAULT_QUEUE"]

        def __getitem__(self, key):
            return {"task_time_limit": 9, "CELERY_DEFAULT_QUEUE": "q"}[key]

    conf = Settings()
    conf.update(Keyed())
    assert (conf.task_time_limit, conf.task_default_queue) == (9, "q")
    conf.update([("task_time_limit", 3)], task_soft_time_limit=2)
    assert (conf.task_time_limit, conf.task_soft_time_limit) == (3, 2)


def test_snapshot_is_rebuilt_after_every_kind_of_write():
    conf = Settings(task_time_limit=5)
    calls = []

    def build(settings):
        calls.append(1)
        return settings.task_time_limit

    assert conf.snapshot(build) == 5
    assert conf.snapshot(build) == 5
    assert len(calls) == 1  # kept while nothing changed
    conf.task_time_limit = 7
    assert conf.snapshot(build) == 7
    conf.update(task_time_limit=9)
    assert conf.snapshot(build) == 9
    del conf["task_time_limit"]
    assert conf.snapshot(build) is None
    conf["task_time_limit"] = 3
    clone = conf.copy()
    conf.clear()
    assert conf.snapshot(build) is None
    assert clone.snapshot(build) == 3
