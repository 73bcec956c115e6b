"""The one table of settings (Celery's names, types, defaults and old names) and ``Settings``."""

from __future__ import annotations

import builtins
import copy
import difflib
import os
import re
import reprlib
import warnings
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any

from celeriac.exceptions import ImproperlyConfigured

__all__ = [
    "CELERY_DEFAULTS",
    "GROUPS",
    "OLD_NAMES",
    "SETTINGS",
    "Setting",
    "Settings",
    "UnknownSettingWarning",
    "describe_type",
]


class UnknownSettingWarning(UserWarning):
    """A configuration key is not a known setting (it is stored anyway, as Celery does)."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One configuration setting.

    Attributes:
        name: The (Celery 4+) lowercase name, e.g. ``broker_url``.
        type: The accepted type(s); ``object`` accepts anything. ``int`` values are accepted
            where ``float`` is; ``bool`` is only accepted where it is listed.
        default: The default value (celeriac's; see ``CELERY_DEFAULTS`` where it differs).
        old_names: Pre-4.0 uppercase names that still map to this setting.
        doc: One sentence describing the setting.
        choices: The only values accepted, if restricted.
        nullable: ``None`` is accepted; always true when the default is ``None``.
    """

    name: str
    type: type | tuple[type, ...]
    default: Any
    old_names: tuple[str, ...] = ()
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.default is None and not self.nullable:
            object.__setattr__(self, "nullable", True)

    @property
    def types(self) -> tuple[builtins.type, ...]:
        """``type`` as a tuple."""
        return self.type if isinstance(self.type, tuple) else (self.type,)

    @property
    def group(self) -> str:
        """The documentation group: a key of ``GROUPS``."""
        return _group_of(self.name)

    @property
    def is_list(self) -> bool:
        """Whether this is a list-valued setting (a string value is split on commas)."""
        types = self.types
        return list in types and str not in types


#: Group key -> heading, in documentation order.
GROUPS: dict[str, str] = {
    "broker": "Broker",
    "result": "Results and result backends",
    "task": "Tasks",
    "worker": "Worker",
    "beat": "Beat (periodic tasks)",
    "events": "Events and remote control",
    "other": "General, imports and security",
}

_GROUP_PREFIXES: tuple[tuple[str, str], ...] = (
    ("broker_", "broker"),
    ("task_", "task"),
    ("worker_", "worker"),
    ("beat_", "beat"),
    ("event_", "events"),
    ("events_", "events"),
    ("control_", "events"),
    ("result_", "result"),
    ("cache_", "result"),
    ("database_", "result"),
    ("redis_", "result"),
    ("cassandra_", "result"),
    ("s3_", "result"),
    ("azureblockblob_", "result"),
    ("gcs_", "result"),
    ("firestore_", "result"),
    ("couchbase_", "result"),
    ("arangodb_", "result"),
    ("mongodb_", "result"),
    ("cosmosdbsql_", "result"),
    ("elasticsearch_", "result"),
    ("override_backends", "result"),
)


def _group_of(name: str) -> str:
    for prefix, group in _GROUP_PREFIXES:
        if name.startswith(prefix):
            return group
    return "other"


# Type shorthands for the table.
_PATH: tuple[type, ...] = (str, os.PathLike)
_LIST: tuple[type, ...] = (list, tuple, set, frozenset)
_CLASS: tuple[type, ...] = (str, type)
_ID: tuple[type, ...] = (int, str)
_EXPIRES: tuple[type, ...] = (float, timedelta)
_ANY = object
_QUEUE_TYPES = ("classic", "quorum")
_EXCHANGE_TYPES = ("direct", "topic", "fanout", "headers")

_MiB = 1024 * 1024

_DEFAULT_PROCESS_LOG_FMT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
_DEFAULT_TASK_LOG_FMT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s"
)


def _s(
    name: str,
    type_: type | tuple[type, ...],
    default: Any,
    doc: str,
    *old_names: str,
    choices: tuple[Any, ...] | None = None,
    nullable: bool = False,
) -> Setting:
    return Setting(name, type_, default, tuple(old_names), doc, choices, nullable)


# fmt: off
_TABLE: tuple[Setting, ...] = (
    # -- general ---------------------------------------------------------------------------
    _s("accept_content", _LIST, ("json",),
       "Serializer names or content types a worker accepts; other messages are rejected.",
       "CELERY_ACCEPT_CONTENT"),
    _s("enable_utc", bool, True,
       "Convert dates and times in messages to UTC.",
       "CELERY_ENABLE_UTC", "ENABLE_UTC"),
    _s("timezone", (str, tzinfo), None,
       "Time zone name (a zoneinfo key) used for schedules and dates; unset means UTC.",
       "CELERY_TIMEZONE"),
    _s("imports", _LIST, (),
       "Modules imported when the worker starts, in order.",
       "CELERY_IMPORTS"),
    _s("include", _LIST, (),
       "Like imports, imported after them.",
       "CELERY_INCLUDE"),
    _s("security_key", _PATH, None,
       "Path to the private key used to sign messages.",
       "CELERY_SECURITY_KEY"),
    _s("security_key_password", (bytes, str), None,
       "Password that decrypts security_key.",
       "CELERY_SECURITY_KEY_PASSWORD"),
    _s("security_certificate", _PATH, None,
       "Path to the X.509 certificate used to sign messages.",
       "CELERY_SECURITY_CERTIFICATE"),
    _s("security_cert_store", _PATH, None,
       "Directory (or glob) of X.509 certificates trusted when verifying signed messages.",
       "CELERY_SECURITY_CERT_STORE"),
    _s("security_digest", str, "sha256",
       "Digest algorithm used to sign messages.",
       "CELERY_SECURITY_DIGEST"),
    # error e-mails (Celery 3's settings; see task_send_error_emails)
    _s("admins", _ANY, (),
       "People who get task error e-mails: a list of (name, address) pairs.",
       "ADMINS"),
    _s("server_email", str, "celery@localhost",
       "Sender address of task error e-mails.",
       "SERVER_EMAIL"),
    _s("email_host", str, "localhost",
       "SMTP server that sends task error e-mails.",
       "EMAIL_HOST"),
    _s("email_port", int, 25,
       "Port of the SMTP server.",
       "EMAIL_PORT"),
    _s("email_host_user", str, None,
       "User name to log in to the SMTP server with; unset means no login.",
       "EMAIL_HOST_USER"),
    _s("email_host_password", str, None,
       "Password to log in to the SMTP server with.",
       "EMAIL_HOST_PASSWORD"),
    _s("email_use_ssl", bool, False,
       "Connect to the SMTP server over TLS from the start (SMTPS, usually port 465).",
       "EMAIL_USE_SSL"),
    _s("email_use_tls", bool, False,
       "Upgrade the SMTP connection with STARTTLS (usually port 587).",
       "EMAIL_USE_TLS"),
    _s("email_timeout", float, 2.0,
       "Seconds to wait for the SMTP server.",
       "EMAIL_TIMEOUT"),
    _s("email_charset", str, "utf-8",
       "Character set of task error e-mails.",
       "EMAIL_CHARSET"),
    # -- broker ----------------------------------------------------------------------------
    _s("broker_url", (str, list, tuple), None,
       "Broker URL, a ';'-separated string or a list of failover URLs; when it and "
       "result_backend are both unset celeriac uses its embedded SQLite file.",
       "BROKER_URL"),
    _s("broker_read_url", (str, list, tuple), None,
       "Broker URL used for consuming; defaults to broker_url.",
       "BROKER_READ_URL"),
    _s("broker_write_url", (str, list, tuple), None,
       "Broker URL used for publishing; defaults to broker_url.",
       "BROKER_WRITE_URL"),
    _s("broker_transport", _CLASS, None,
       "Transport name or class, used when broker_url has no scheme.",
       "BROKER_TRANSPORT"),
    _s("broker_transport_options", dict, {},
       "Extra options passed to the transport (e.g. visibility_timeout).",
       "BROKER_TRANSPORT_OPTIONS"),
    _s("broker_connection_timeout", float, 4,
       "Seconds to wait when establishing a broker connection.",
       "BROKER_CONNECTION_TIMEOUT"),
    _s("broker_connection_retry", bool, True,
       "Retry re-establishing a lost broker connection.",
       "BROKER_CONNECTION_RETRY"),
    _s("broker_connection_retry_on_startup", bool, None,
       "Retry the first broker connection at startup; unset follows broker_connection_retry.",
       "BROKER_CONNECTION_RETRY_ON_STARTUP"),
    _s("broker_connection_max_retries", int, 100,
       "Broker connection retries before giving up; None or 0 retries forever.",
       "BROKER_CONNECTION_MAX_RETRIES", nullable=True),
    _s("broker_channel_error_retry", bool, False,
       "Also retry the connection when the broker returns an invalid response.",
       "BROKER_CHANNEL_ERROR_RETRY"),
    _s("broker_failover_strategy", _ANY, None,
       "Failover strategy name or function choosing among several broker URLs; "
       "unset means round-robin.",
       "BROKER_FAILOVER_STRATEGY"),
    _s("broker_heartbeat", float, 120,
       "Heartbeat interval in seconds for transports that support heartbeats; 0 disables.",
       "BROKER_HEARTBEAT", nullable=True),
    _s("broker_heartbeat_checkrate", float, 3.0,
       "How many times per heartbeat interval the worker checks for missed heartbeats.",
       "BROKER_HEARTBEAT_CHECKRATE"),
    _s("broker_login_method", str, None,
       "AMQP login method (AMQPLAIN when unset).",
       "BROKER_LOGIN_METHOD"),
    _s("broker_native_delayed_delivery_queue_type", str, "quorum",
       "Queue type of RabbitMQ native delayed-delivery queues.",
       "BROKER_NATIVE_DELAYED_DELIVERY_QUEUE_TYPE", choices=_QUEUE_TYPES),
    _s("broker_pool_limit", int, 10,
       "Maximum connections in the broker connection pool; None or 0 disables the pool.",
       "BROKER_POOL_LIMIT", nullable=True),
    _s("broker_pool_acquire_timeout", float, None,
       "Seconds to wait for a free pooled connection; unset waits forever.",
       "BROKER_POOL_ACQUIRE_TIMEOUT"),
    _s("broker_use_ssl", (bool, dict), False,
       "Use TLS for the broker connection: True, or a dict of SSL options.",
       "BROKER_USE_SSL"),
    _s("broker_host", str, None,
       "Deprecated: broker host name; use broker_url.",
       "BROKER_HOST"),
    _s("broker_port", int, None,
       "Deprecated: broker port; use broker_url.",
       "BROKER_PORT"),
    _s("broker_user", str, None,
       "Deprecated: broker user name; use broker_url.",
       "BROKER_USER"),
    _s("broker_password", str, None,
       "Deprecated: broker password; use broker_url.",
       "BROKER_PASSWORD"),
    _s("broker_vhost", str, None,
       "Deprecated: broker virtual host; use broker_url.",
       "BROKER_VHOST"),
    # -- results -----------------------------------------------------------------------------
    _s("result_backend", str, None,
       "Result backend URL; when it and broker_url are both unset celeriac uses its "
       "embedded SQLite file.",
       "CELERY_RESULT_BACKEND"),
    _s("result_accept_content", _LIST, None,
       "Serializers accepted for results; unset means accept_content.",
       "RESULT_ACCEPT_CONTENT"),
    _s("result_serializer", str, "json",
       "Serializer used to store results.",
       "CELERY_RESULT_SERIALIZER"),
    _s("result_compression", str, None,
       "Compression used for stored results; unset means none.",
       "CELERY_RESULT_COMPRESSION"),
    _s("result_expires", _EXPIRES, timedelta(days=1),
       "Seconds (or a timedelta) after which stored results are deleted; None or 0 keeps "
       "them forever.",
       "CELERY_TASK_RESULT_EXPIRES", "CELERY_RESULT_EXPIRES", nullable=True),
    _s("result_failure_expires", _EXPIRES, None,
       "Expiry of failed results; unset means result_expires.",
       "CELERY_RESULT_FAILURE_EXPIRES"),
    _s("result_chord_expires", _EXPIRES, None,
       "Expiry of chord bookkeeping keys; unset means result_expires.",
       "CELERY_RESULT_CHORD_EXPIRES"),
    _s("result_cache_max", int, -1,
       "Results cached client-side; -1 disables the cache, 0 or None means no limit.",
       "CELERY_MAX_CACHED_RESULTS", nullable=True),
    _s("result_extended", bool, False,
       "Store extended task metadata (name, args, kwargs, worker, retries, queue) with results.",
       "CELERY_RESULT_EXTENDED"),
    _s("result_persistent", bool, None,
       "Make result messages persistent (RPC backend).",
       "CELERY_RESULT_PERSISTENT"),
    _s("result_exchange", str, "celeryresults",
       "Exchange for result messages (RPC backend).",
       "CELERY_RESULT_EXCHANGE"),
    _s("result_exchange_type", str, "direct",
       "Exchange type for result messages (RPC backend).",
       "CELERY_RESULT_EXCHANGE_TYPE", choices=_EXCHANGE_TYPES),
    _s("result_backend_transport_options", dict, {},
       "Extra options passed to the result backend's transport.",
       "CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS"),
    _s("result_backend_always_retry", bool, False,
       "Retry recoverable result backend errors with exponential backoff instead of raising.",
       "CELERY_RESULT_BACKEND_ALWAYS_RETRY"),
    _s("result_backend_max_retries", float, float("inf"),
       "Maximum retries of a recoverable result backend error.",
       "CELERY_RESULT_BACKEND_MAX_RETRIES"),
    _s("result_backend_base_sleep_between_retries_ms", int, 10,
       "Base backoff in milliseconds between result backend retries.",
       "CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS"),
    _s("result_backend_max_sleep_between_retries_ms", int, 10000,
       "Maximum backoff in milliseconds between result backend retries.",
       "CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS"),
    _s("result_backend_thread_safe", bool, False,
       "Share one result backend object across threads.",
       "RESULT_BACKEND_THREAD_SAFE"),
    _s("result_chord_join_timeout", float, 3.0,
       "Seconds to wait when joining a chord header's results.",
       "CELERY_RESULT_CHORD_JOIN_TIMEOUT"),
    _s("result_chord_retry_interval", float, 1.0,
       "Seconds between retries of the chord-unlock check.",
       "CELERY_RESULT_CHORD_RETRY_INTERVAL"),
    _s("override_backends", dict, None,
       "Map of backend alias to 'module:Class' overriding the built-in backend classes.",
       "OVERRIDE_BACKENDS"),
    _s("cache_backend", str, None,
       "Cache backend name (used by the cache result backend and django-celery-results).",
       "CELERY_CACHE_BACKEND"),
    _s("cache_backend_options", dict, {},
       "Options passed to the cache result backend's client.",
       "CELERY_CACHE_BACKEND_OPTIONS"),
    _s("database_url", str, None,
       "Database URL for the database result backend (prefer result_backend='db+...').",
       "CELERY_RESULT_DBURI"),
    _s("database_engine_options", dict, {"pool_pre_ping": True, "pool_recycle": 3600},
       "Keyword arguments for the database result backend's engine.",
       "CELERY_RESULT_ENGINE_OPTIONS"),
    _s("database_engine_callback", _ANY, None,
       "Callable applied to the database result backend's engine after it is created.",
       "DATABASE_ENGINE_CALLBACK"),
    _s("database_short_lived_sessions", bool, False,
       "Open a new database session for every result backend operation.",
       "CELERY_RESULT_DB_SHORT_LIVED_SESSIONS"),
    _s("database_table_schemas", dict, None,
       "Schema per result table ('task', 'group') for the database result backend.",
       "DATABASE_TABLE_SCHEMAS"),
    _s("database_table_names", dict, None,
       "Name per result table ('task', 'group') for the database result backend.",
       "CELERY_RESULT_DB_TABLENAMES", "CELERY_RESULT_DB_TABLE_NAMES"),
    _s("database_create_tables_at_setup", bool, True,
       "Create the result tables when the backend is set up rather than on first use.",
       "DATABASE_CREATE_TABLES_AT_SETUP"),
    _s("redis_host", str, None,
       "Redis result backend host (prefer a redis:// result_backend URL).",
       "CELERY_REDIS_HOST"),
    _s("redis_port", int, None,
       "Redis result backend port.",
       "CELERY_REDIS_PORT"),
    _s("redis_db", int, None,
       "Redis result backend database number.",
       "CELERY_REDIS_DB"),
    _s("redis_username", str, None,
       "Redis result backend user name.",
       "CELERY_REDIS_USERNAME"),
    _s("redis_password", str, None,
       "Redis result backend password.",
       "CELERY_REDIS_PASSWORD"),
    _s("redis_max_connections", int, None,
       "Maximum connections in the Redis result backend pool; unset means no limit.",
       "CELERY_REDIS_MAX_CONNECTIONS"),
    _s("redis_socket_timeout", float, 120.0,
       "Seconds before a Redis result backend read or write times out.",
       "CELERY_REDIS_SOCKET_TIMEOUT"),
    _s("redis_socket_connect_timeout", float, None,
       "Seconds before connecting to the Redis result backend times out.",
       "CELERY_REDIS_SOCKET_CONNECT_TIMEOUT"),
    _s("redis_retry_on_timeout", bool, False,
       "Retry Redis result backend operations that time out.",
       "CELERY_REDIS_RETRY_ON_TIMEOUT"),
    _s("redis_socket_keepalive", bool, False,
       "Enable TCP keepalive on Redis result backend connections.",
       "CELERY_REDIS_SOCKET_KEEPALIVE"),
    _s("redis_backend_use_ssl", dict, None,
       "SSL options for the Redis result backend.",
       "CELERY_REDIS_BACKEND_USE_SSL"),
    _s("redis_backend_health_check_interval", int, None,
       "Seconds between Redis result backend connection health checks.",
       "REDIS_BACKEND_HEALTH_CHECK_INTERVAL"),
    _s("redis_backend_credential_provider", _ANY, None,
       "Redis credential provider class or 'module:Class' path for the result backend.",
       "REDIS_BACKEND_CREDENTIAL_PROVIDER"),
    _s("redis_client_name", str, None,
       "Client name the Redis result backend sets on its connections.",
       "REDIS_CLIENT_NAME"),
    _s("cassandra_servers", _LIST, None,
       "Cassandra hosts for the Cassandra result backend.",
       "CASSANDRA_SERVERS"),
    _s("cassandra_port", _ID, None,
       "Cassandra port (9042 when unset).",
       "CASSANDRA_PORT"),
    _s("cassandra_keyspace", str, None,
       "Cassandra keyspace holding results.",
       "CASSANDRA_KEYSPACE"),
    _s("cassandra_table", str, None,
       "Cassandra table holding results.",
       "CASSANDRA_TABLE", "CASSANDRA_COLUMN_FAMILY"),
    _s("cassandra_read_consistency", str, None,
       "Cassandra read consistency level (e.g. QUORUM).",
       "CASSANDRA_READ_CONSISTENCY"),
    _s("cassandra_write_consistency", str, None,
       "Cassandra write consistency level (e.g. QUORUM).",
       "CASSANDRA_WRITE_CONSISTENCY"),
    _s("cassandra_entry_ttl", float, None,
       "Seconds before Cassandra result rows expire; unset keeps them.",
       "CASSANDRA_ENTRY_TTL"),
    _s("cassandra_auth_provider", str, None,
       "Name of the cassandra.auth provider class.",
       "CASSANDRA_AUTH_PROVIDER"),
    _s("cassandra_auth_kwargs", dict, None,
       "Keyword arguments for the Cassandra auth provider.",
       "CASSANDRA_AUTH_KWARGS"),
    _s("cassandra_options", dict, {},
       "Keyword arguments for the Cassandra cluster object.",
       "CASSANDRA_OPTIONS"),
    _s("cassandra_bundle_path", _PATH, None,
       "Astra DB secure-connect bundle path (older name of cassandra_secure_bundle_path).",
       "CASSANDRA_BUNDLE_PATH"),
    _s("cassandra_secure_bundle_path", _PATH, None,
       "Path to an Astra DB secure-connect bundle, instead of cassandra_servers.",
       "CASSANDRA_SECURE_BUNDLE_PATH"),
    _s("s3_access_key_id", str, None,
       "S3 access key id for the S3 result backend.",
       "S3_ACCESS_KEY_ID"),
    _s("s3_secret_access_key", str, None,
       "S3 secret access key for the S3 result backend.",
       "S3_SECRET_ACCESS_KEY"),
    _s("s3_bucket", str, None,
       "S3 bucket holding results.",
       "S3_BUCKET"),
    _s("s3_base_path", str, None,
       "Key prefix for results in the S3 bucket.",
       "S3_BASE_PATH"),
    _s("s3_endpoint_url", str, None,
       "Custom S3-compatible endpoint URL.",
       "S3_ENDPOINT_URL"),
    _s("s3_region", str, None,
       "AWS region of the S3 bucket.",
       "S3_REGION"),
    _s("azureblockblob_container_name", str, "celery",
       "Azure storage container holding results.",
       "AZUREBLOCKBLOB_CONTAINER_NAME"),
    _s("azureblockblob_base_path", str, "",
       "Key prefix for results in the Azure container.",
       "AZUREBLOCKBLOB_BASE_PATH"),
    _s("azureblockblob_retry_initial_backoff_sec", int, 2,
       "Initial Azure retry backoff in seconds.",
       "AZUREBLOCKBLOB_RETRY_INITIAL_BACKOFF_SEC"),
    _s("azureblockblob_retry_increment_base", int, 2,
       "Exponential base of the Azure retry backoff.",
       "AZUREBLOCKBLOB_RETRY_INCREMENT_BASE"),
    _s("azureblockblob_retry_max_attempts", int, 3,
       "Maximum Azure retry attempts.",
       "AZUREBLOCKBLOB_RETRY_MAX_ATTEMPTS"),
    _s("azureblockblob_connection_timeout", int, 20,
       "Seconds to wait when connecting to Azure block blob storage.",
       "AZUREBLOCKBLOB_CONNECTION_TIMEOUT"),
    _s("azureblockblob_read_timeout", int, 120,
       "Seconds to wait when reading an Azure blob.",
       "AZUREBLOCKBLOB_READ_TIMEOUT"),
    _s("gcs_bucket", str, None,
       "Google Cloud Storage bucket holding results.",
       "GCS_BUCKET"),
    _s("gcs_project", str, None,
       "Google Cloud project of the GCS bucket.",
       "GCS_PROJECT"),
    _s("gcs_base_path", str, "",
       "Key prefix for results in the GCS bucket.",
       "GCS_BASE_PATH"),
    _s("gcs_ttl", float, 0,
       "Seconds before GCS result blobs expire (needs a bucket lifecycle rule); 0 keeps them.",
       "GCS_TTL"),
    _s("gcs_threadpool_maxsize", int, 10,
       "Thread and connection pool size for GCS operations.",
       "GCS_THREADPOOL_MAXSIZE"),
    _s("firestore_project", str, None,
       "Firestore project used for chord counting with the GCS backend; unset means "
       "gcs_project.",
       "FIRESTORE_PROJECT"),
    _s("couchbase_backend_settings", dict, None,
       "Couchbase result backend options (host, port, bucket, username, password).",
       "CELERY_COUCHBASE_BACKEND_SETTINGS"),
    _s("arangodb_backend_settings", dict, None,
       "ArangoDB result backend options (host, port, database, collection, credentials).",
       "CELERY_ARANGODB_BACKEND_SETTINGS"),
    _s("mongodb_backend_settings", dict, None,
       "MongoDB result backend options (database, taskmeta_collection, options).",
       "CELERY_MONGODB_BACKEND_SETTINGS"),
    _s("cosmosdbsql_database_name", str, "celerydb",
       "CosmosDB database holding results.",
       "COSMOSDBSQL_DATABASE_NAME"),
    _s("cosmosdbsql_collection_name", str, "celerycol",
       "CosmosDB collection holding results.",
       "COSMOSDBSQL_COLLECTION_NAME"),
    _s("cosmosdbsql_consistency_level", str, "Session",
       "CosmosDB consistency level.",
       "COSMOSDBSQL_CONSISTENCY_LEVEL"),
    _s("cosmosdbsql_max_retry_attempts", int, 9,
       "Maximum CosmosDB request retries.",
       "COSMOSDBSQL_MAX_RETRY_ATTEMPTS"),
    _s("cosmosdbsql_max_retry_wait_time", int, 30,
       "Maximum seconds spent retrying a CosmosDB request.",
       "COSMOSDBSQL_MAX_RETRY_WAIT_TIME"),
    _s("elasticsearch_retry_on_timeout", bool, None,
       "Retry Elasticsearch requests that time out on another node.",
       "CELERY_ELASTICSEARCH_RETRY_ON_TIMEOUT"),
    _s("elasticsearch_max_retries", int, None,
       "Maximum Elasticsearch retries before raising (3 when unset).",
       "CELERY_ELASTICSEARCH_MAX_RETRIES"),
    _s("elasticsearch_timeout", float, None,
       "Elasticsearch request timeout in seconds (10 when unset).",
       "CELERY_ELASTICSEARCH_TIMEOUT"),
    _s("elasticsearch_save_meta_as_text", bool, True,
       "Store result metadata in Elasticsearch as text rather than native JSON.",
       "CELERY_ELASTICSEARCH_SAVE_META_AS_TEXT"),
    # -- tasks -----------------------------------------------------------------------------
    _s("task_serializer", str, "json",
       "Serializer used for task messages.",
       "CELERY_TASK_SERIALIZER"),
    _s("task_compression", str, None,
       "Compression used for task messages; unset means none.",
       "CELERY_MESSAGE_COMPRESSION", "CELERY_COMPRESSION"),
    _s("task_protocol", int, 2,
       "Task message protocol version sent.",
       "CELERY_TASK_PROTOCOL", choices=(1, 2)),
    _s("task_always_eager", bool, False,
       "Run tasks locally and synchronously in apply_async() and delay() instead of "
       "sending them.",
       "CELERY_ALWAYS_EAGER", "CELERY_TASK_ALWAYS_EAGER"),
    _s("task_eager_propagates", bool, False,
       "Re-raise exceptions of eagerly executed tasks.",
       "CELERY_EAGER_PROPAGATES_EXCEPTIONS", "CELERY_EAGER_PROPAGATES"),
    _s("task_store_eager_result", bool, False,
       "Store results of eagerly executed tasks in the result backend.",
       "CELERY_STORE_EAGER_RESULT"),
    _s("task_ignore_result", bool, False,
       "Do not store task return values by default.",
       "CELERY_IGNORE_RESULT"),
    _s("task_store_errors_even_if_ignored", bool, False,
       "Store task errors even for tasks that ignore results.",
       "CELERY_STORE_ERRORS_EVEN_IF_IGNORED"),
    _s("task_track_started", bool, False,
       "Report the STARTED state when a worker begins a task.",
       "CELERY_TRACK_STARTED", "CELERY_TASK_TRACK_STARTED"),
    _s("task_acks_late", bool, True,
       "Acknowledge task messages after the task finishes instead of before it starts "
       "(celeriac defaults to True; Celery to False).",
       "CELERY_ACKS_LATE"),
    _s("task_acks_on_failure_or_timeout", bool, True,
       "With late acks, acknowledge messages of tasks that fail or time out too.",
       "CELERY_ACKS_ON_FAILURE_OR_TIMEOUT"),
    _s("task_acks_on_failure", bool, None,
       "With late acks, acknowledge messages of failed tasks; unset follows "
       "task_acks_on_failure_or_timeout.",
       "CELERY_ACKS_ON_FAILURE"),
    _s("task_acks_on_timeout", bool, None,
       "With late acks, acknowledge messages of timed-out tasks; unset follows "
       "task_acks_on_failure_or_timeout.",
       "CELERY_ACKS_ON_TIMEOUT"),
    _s("task_reject_on_worker_lost", bool, True,
       "Requeue a late-acked message when its worker process dies mid-task "
       "(celeriac defaults to True; Celery to unset/False).",
       "CELERY_REJECT_ON_WORKER_LOST", "CELERY_TASK_REJECT_ON_WORKER_LOST", nullable=True),
    _s("task_retry_on_worker_lost", bool, False,
       "Retry, rather than fail, a task whose worker process died.",
       "CELERY_RETRY_ON_WORKER_LOST"),
    _s("task_max_deliveries", int, 5,
       "celeriac only: dead-letter a message after this many deliveries without an ack.",
       ),
    _s("task_message_max_size", int, 64 * _MiB,
       "celeriac only: largest task message in bytes that delay() and apply_async() will send.",
       ),
    _s("task_time_limit", float, None,
       "Hard time limit in seconds after which the process running the task is killed.",
       "CELERYD_TASK_TIME_LIMIT", "CELERYD_TIME_LIMIT"),
    _s("task_soft_time_limit", float, None,
       "Soft time limit in seconds after which SoftTimeLimitExceeded is raised in the task.",
       "CELERYD_TASK_SOFT_TIME_LIMIT", "CELERYD_SOFT_TIME_LIMIT"),
    _s("task_default_rate_limit", (str, int, float), None,
       "Default rate limit of tasks (e.g. '10/s'); unset means none.",
       "CELERY_DEFAULT_RATE_LIMIT"),
    _s("task_rate_limit_scope", str, "worker",
       "celeriac only: where rate limits hold by default: 'worker' (per worker node, as in "
       "Celery) or 'global' (across every worker, enforced in the broker's store).",
       choices=("worker", "global")),
    _s("task_annotations", _ANY, None,
       "Task attribute overrides: a dict by task name ('*' for all) or annotation objects.",
       "CELERY_ANNOTATIONS"),
    _s("task_routes", _ANY, None,
       "Routers deciding each task's queue: a dict, a list, a function or its import path.",
       "CELERY_ROUTES"),
    _s("task_queues", _ANY, None,
       "Queues the worker consumes from (a list of queues or a dict); unset means "
       "task_default_queue.",
       "CELERY_QUEUES"),
    _s("task_default_queue", str, "celery",
       "Queue used by tasks with no route.",
       "CELERY_DEFAULT_QUEUE"),
    _s("task_default_queue_type", str, "classic",
       "RabbitMQ queue type of the default queue.",
       "CELERY_DEFAULT_QUEUE_TYPE", choices=_QUEUE_TYPES),
    _s("task_default_exchange", str, None,
       "Exchange used when a queue names none; unset means task_default_queue.",
       "CELERY_DEFAULT_EXCHANGE"),
    _s("task_default_exchange_type", str, "direct",
       "Exchange type used when a queue names none.",
       "CELERY_DEFAULT_EXCHANGE_TYPE", choices=_EXCHANGE_TYPES),
    _s("task_default_routing_key", str, None,
       "Routing key used when a queue names none; unset means task_default_queue.",
       "CELERY_DEFAULT_ROUTING_KEY"),
    _s("task_default_delivery_mode", _ID, 2,
       "Delivery mode of task messages: 2 or 'persistent', 1 or 'transient'.",
       "CELERY_DEFAULT_DELIVERY_MODE", choices=(1, 2, "transient", "persistent")),
    _s("task_default_priority", int, None,
       "Default message priority of tasks.",
       "CELERY_DEFAULT_PRIORITY"),
    _s("task_queue_max_priority", int, None,
       "Maximum priority of queues (x-max-priority).",
       "CELERY_QUEUE_MAX_PRIORITY"),
    _s("task_inherit_parent_priority", bool, False,
       "Child tasks inherit the priority of the task that sent them.",
       "CELERY_INHERIT_PARENT_PRIORITY"),
    _s("task_create_missing_queues", bool, True,
       "Create queues named by routes that are not in task_queues.",
       "CELERY_CREATE_MISSING_QUEUES"),
    _s("task_create_missing_queue_type", str, "classic",
       "RabbitMQ queue type of automatically created queues.",
       "CELERY_CREATE_MISSING_QUEUE_TYPE", choices=_QUEUE_TYPES),
    _s("task_create_missing_queue_exchange_type", str, None,
       "Exchange type of automatically created queues; unset keeps the queue's own.",
       "CELERY_CREATE_MISSING_QUEUE_EXCHANGE_TYPE", choices=("", *_EXCHANGE_TYPES)),
    _s("task_publish_retry", bool, True,
       "Retry publishing task messages after connection errors.",
       "CELERY_TASK_PUBLISH_RETRY"),
    _s("task_publish_retry_policy", dict,
       {"max_retries": 3, "interval_start": 0, "interval_max": 1, "interval_step": 0.2},
       "Retry policy (max_retries, interval_start, interval_step, interval_max) for publishing.",
       "CELERY_TASK_PUBLISH_RETRY_POLICY"),
    _s("task_send_sent_event", bool, False,
       "Send a task-sent event for every task published.",
       "CELERY_SEND_TASK_SENT_EVENT"),
    _s("task_remote_tracebacks", bool, False,
       "Include the worker's traceback when re-raising task errors.",
       "CELERY_REMOTE_TRACEBACKS"),
    _s("task_repr_maxlevels", int, 3,
       "Nesting depth shown when logging task arguments.",
       "CELERY_REPR_MAXLEVELS"),
    _s("task_allow_error_cb_on_chord_header", bool, False,
       "Link a chord's error callback to its header tasks too.",
       "CELERY_ALLOW_ERROR_CB_ON_CHORD_HEADER"),
    _s("task_send_error_emails", bool, False,
       "E-mail the admins when a task fails (Celery 3); a task's send_error_emails "
       "attribute overrides it.",
       "CELERY_SEND_TASK_ERROR_EMAILS"),
    _s("task_error_email_interval", float, 60.0,
       "celeriac only: seconds between two error e-mails about the same task; failures "
       "in between are sent as one digest when the interval ends.",
       ),
    # -- worker ----------------------------------------------------------------------------
    _s("worker_concurrency", _ID, None,
       "Number of worker processes or threads; unset means the number of CPUs.",
       "CELERYD_CONCURRENCY"),
    _s("worker_async_slots", int, 100,
       "celeriac only: async def tasks run concurrently by each worker process.",
       ),
    _s("worker_inline_sync", bool, True,
       "celeriac only: a prefork child runs sync tasks that proved short (under 5 ms) on "
       "its event-loop thread instead of handing them to its task thread; their leases "
       "are still renewed. False always uses the task thread.",
       ),
    _s("worker_prefetch_multiplier", int, 4,
       "Messages prefetched per process; 0 means no limit.",
       "CELERYD_PREFETCH_MULTIPLIER"),
    _s("worker_disable_prefetch", bool, False,
       "Fetch a message only when a process is free to run it.",
       "CELERYD_DISABLE_PREFETCH"),
    _s("worker_enable_prefetch_count_reduction", bool, True,
       "Lower the prefetch count after a broker reconnect until running tasks finish.",
       "CELERYD_ENABLE_PREFETCH_COUNT_REDUCTION"),
    _s("worker_eta_task_limit", int, None,
       "Maximum ETA/countdown tasks held in memory; unset means no limit.",
       "CELERYD_ETA_TASK_LIMIT"),
    _s("worker_pool", _CLASS, "prefork",
       "Execution pool name or class.",
       "CELERYD_POOL"),
    _s("worker_pool_start_method", str, "fork",
       "multiprocessing start method of pool processes.",
       "CELERYD_POOL_START_METHOD", choices=("fork", "spawn", "forkserver")),
    _s("worker_pool_putlocks", bool, True,
       "Block when all pool processes are busy instead of queueing in memory.",
       "CELERYD_POOL_PUTLOCKS"),
    _s("worker_pool_restarts", bool, False,
       "Allow restarting the pool with the pool_restart control command.",
       "CELERYD_POOL_RESTARTS"),
    _s("worker_max_tasks_per_child", int, None,
       "Tasks a pool process runs before it is replaced; unset means no limit.",
       "CELERYD_MAX_TASKS_PER_CHILD"),
    _s("worker_max_memory_per_child", int, None,
       "Resident memory in KiB after which a pool process is replaced; unset means no limit.",
       "CELERYD_MAX_MEMORY_PER_CHILD"),
    _s("worker_proc_alive_timeout", float, 4.0,
       "Seconds to wait for a new pool process to start.",
       "CELERYD_PROC_ALIVE_TIMEOUT"),
    _s("worker_lost_wait", float, 10.0,
       "Seconds to wait for the result of a task whose process died before raising "
       "WorkerLostError.",
       "CELERYD_WORKER_LOST_WAIT"),
    _s("worker_disable_rate_limits", bool, False,
       "Ignore all task rate limits.",
       "CELERY_DISABLE_RATE_LIMITS"),
    _s("worker_direct", bool, False,
       "Give every worker a dedicated queue so tasks can be routed to one worker.",
       "CELERY_WORKER_DIRECT"),
    _s("worker_enable_remote_control", bool, True,
       "Accept remote control commands.",
       "CELERY_ENABLE_REMOTE_CONTROL"),
    _s("worker_send_task_events", bool, False,
       "Send task events for monitors (the -E option).",
       "CELERY_SEND_EVENTS"),
    _s("worker_state_db", _PATH, None,
       "File persisting worker state such as revoked task ids.",
       "CELERYD_STATE_DB"),
    _s("worker_timer_precision", float, 1.0,
       "Maximum seconds the ETA scheduler sleeps between checks.",
       "CELERYD_TIMER_PRECISION"),
    _s("worker_timer", _CLASS, None,
       "ETA scheduler class; unset means the pool's default.",
       "CELERYD_TIMER"),
    _s("worker_autoscaler", _CLASS, "celery.worker.autoscale:Autoscaler",
       "Autoscaler class.",
       "CELERYD_AUTOSCALER"),
    _s("worker_consumer", _CLASS, "celery.worker.consumer:Consumer",
       "Consumer class used by the worker.",
       "CELERYD_CONSUMER"),
    _s("worker_agent", _CLASS, None,
       "Monitoring agent class started with the worker.",
       "CELERYD_AGENT"),
    _s("worker_deduplicate_successful_tasks", bool, False,
       "Skip redelivered late-acked tasks that already succeeded.",
       "CELERYD_DEDUPLICATE_SUCCESSFUL_TASKS"),
    _s("worker_cancel_long_running_tasks_on_connection_loss", bool, False,
       "Cancel running late-acked tasks when the broker connection is lost.",
       "CELERYD_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS"),
    _s("worker_soft_shutdown_timeout", float, 0.0,
       "Seconds a warm shutdown waits for running tasks before the cold shutdown.",
       "CELERYD_SOFT_SHUTDOWN_TIMEOUT"),
    _s("worker_enable_soft_shutdown_on_idle", bool, False,
       "Wait worker_soft_shutdown_timeout even when no task is running.",
       "CELERYD_ENABLE_SOFT_SHUTDOWN_ON_IDLE"),
    _s("worker_detect_quorum_queues", bool, True,
       "Disable global QoS when a consumed queue is a RabbitMQ quorum queue.",
       "CELERYD_DETECT_QUORUM_QUEUES"),
    _s("worker_hijack_root_logger", bool, True,
       "Replace the root logger's handlers with the worker's.",
       "CELERYD_HIJACK_ROOT_LOGGER"),
    _s("worker_log_color", bool, None,
       "Colour log output; unset means colour when logging to a terminal.",
       "CELERYD_LOG_COLOR"),
    _s("worker_log_format", str, _DEFAULT_PROCESS_LOG_FMT,
       "Format of worker log records.",
       "CELERYD_LOG_FORMAT", "CELERY_WORKER_LOG_FORMAT"),
    _s("worker_log_datefmt", str, None,
       "Date format of worker log records.",
       "CELERYD_LOG_DATEFMT"),
    _s("worker_task_log_format", str, _DEFAULT_TASK_LOG_FMT,
       "Format of log records emitted inside tasks.",
       "CELERYD_TASK_LOG_FORMAT", "CELERY_WORKER_TASK_LOG_FORMAT"),
    _s("worker_task_log_datefmt", str, None,
       "Date format of log records emitted inside tasks.",
       "CELERYD_TASK_LOG_DATEFMT"),
    _s("worker_redirect_stdouts", bool, True,
       "Redirect stdout and stderr to the logger.",
       "CELERY_REDIRECT_STDOUTS"),
    _s("worker_redirect_stdouts_level", (str, int), "WARNING",
       "Log level of redirected stdout and stderr output.",
       "CELERY_REDIRECT_STDOUTS_LEVEL"),
    _s("worker_logfile", _PATH, None,
       "File the daemonized worker logs to; unset means stderr.",
       "WORKER_LOGFILE"),
    _s("worker_pidfile", _PATH, None,
       "PID file of the daemonized worker.",
       "WORKER_PIDFILE"),
    _s("worker_uid", _ID, None,
       "User the daemonized worker switches to.",
       "WORKER_UID"),
    _s("worker_gid", _ID, None,
       "Group the daemonized worker switches to.",
       "WORKER_GID"),
    _s("worker_umask", _ID, None,
       "umask of files the daemonized worker creates.",
       "WORKER_UMASK"),
    _s("worker_executable", _PATH, None,
       "Python executable the daemonized worker runs under.",
       "WORKER_EXECUTABLE"),
    # -- beat ------------------------------------------------------------------------------
    _s("beat_schedule", dict, {},
       "Periodic task schedule: entry name to a dict with task, schedule, args, kwargs, options.",
       "CELERYBEAT_SCHEDULE"),
    _s("beat_scheduler", _CLASS, "celery.beat:PersistentScheduler",
       "Scheduler class or its import path.",
       "CELERYBEAT_SCHEDULER"),
    _s("beat_schedule_filename", _PATH, "celerybeat-schedule",
       "File where the persistent scheduler stores last run times.",
       "CELERYBEAT_SCHEDULE_FILENAME"),
    _s("beat_sync_every", int, 0,
       "Periodic tasks sent between schedule syncs; 0 syncs on a timer.",
       "CELERYBEAT_SYNC_EVERY"),
    _s("beat_max_loop_interval", float, 0,
       "Maximum seconds beat sleeps between schedule checks; 0 means the scheduler's default.",
       "CELERYBEAT_MAX_LOOP_INTERVAL"),
    _s("beat_lock_timeout", float, 30.0,
       "Seconds within which another beat takes over when the leader dies (celeriac only)."),
    _s("beat_missed_run_policy", str, "run_once",
       "A run missed while no beat ran: 'run_once' fires it once on catch-up, 'skip' drops it "
       "(celeriac only).",
       choices=("run_once", "skip")),
    _s("beat_cron_starting_deadline", int, None,
       "Seconds beat looks back when deciding whether a missed crontab entry is still due.",
       "CELERYBEAT_CRON_STARTING_DEADLINE"),
    _s("beat_enable_remote_control", bool, False,
       "Let beat answer remote control commands.",
       "CELERYBEAT_ENABLE_REMOTE_CONTROL"),
    _s("beat_remote_control_max_tick_age", float, None,
       "Seconds since beat's last tick after which it reports itself unhealthy.",
       "CELERYBEAT_REMOTE_CONTROL_MAX_TICK_AGE"),
    _s("beat_logfile", _PATH, None,
       "File the daemonized beat logs to; unset means stderr.",
       "BEAT_LOGFILE"),
    _s("beat_pidfile", _PATH, None,
       "PID file of the daemonized beat.",
       "BEAT_PIDFILE"),
    _s("beat_uid", _ID, None,
       "User the daemonized beat switches to.",
       "BEAT_UID"),
    _s("beat_gid", _ID, None,
       "Group the daemonized beat switches to.",
       "BEAT_GID"),
    _s("beat_umask", _ID, None,
       "umask of files the daemonized beat creates.",
       "BEAT_UMASK"),
    _s("beat_executable", _PATH, None,
       "Python executable the daemonized beat runs under.",
       "BEAT_EXECUTABLE"),
    # -- events and remote control ---------------------------------------------------------
    _s("event_serializer", str, "json",
       "Serializer used for event messages.",
       "CELERY_EVENT_SERIALIZER"),
    _s("event_exchange", str, "celeryev",
       "Exchange events are published to.",
       "CELERY_EVENT_EXCHANGE"),
    _s("event_queue_prefix", str, "celeryev",
       "Prefix of event receiver queue names.",
       "CELERY_EVENT_QUEUE_PREFIX"),
    _s("event_queue_ttl", float, 5.0,
       "Seconds before an unconsumed event message expires.",
       "CELERY_EVENT_QUEUE_TTL"),
    _s("event_queue_expires", float, 60.0,
       "Seconds before an unused event receiver queue is deleted.",
       "CELERY_EVENT_QUEUE_EXPIRES"),
    _s("event_queue_exclusive", bool, True,
       "Make event receiver queues exclusive to their connection.",
       "CELERY_EVENT_QUEUE_EXCLUSIVE"),
    _s("event_queue_durable", bool, False,
       "Make event receiver queues durable.",
       "CELERY_EVENT_QUEUE_DURABLE"),
    _s("events_logfile", _PATH, None,
       "File the daemonized event monitor logs to.",
       "EVENTS_LOGFILE"),
    _s("events_pidfile", _PATH, None,
       "PID file of the daemonized event monitor.",
       "EVENTS_PIDFILE"),
    _s("events_uid", _ID, None,
       "User the daemonized event monitor switches to.",
       "EVENTS_UID"),
    _s("events_gid", _ID, None,
       "Group the daemonized event monitor switches to.",
       "EVENTS_GID"),
    _s("events_umask", _ID, None,
       "umask of files the daemonized event monitor creates.",
       "EVENTS_UMASK"),
    _s("events_executable", _PATH, None,
       "Python executable the daemonized event monitor runs under.",
       "EVENTS_EXECUTABLE"),
    _s("control_exchange", str, "celery",
       "Exchange remote control commands are published to.",
       "CONTROL_EXCHANGE"),
    _s("control_queue_ttl", float, 300.0,
       "Seconds before an unconsumed remote control message expires.",
       "CONTROL_QUEUE_TTL"),
    _s("control_queue_expires", float, 10.0,
       "Seconds before an unused remote control queue is deleted.",
       "CONTROL_QUEUE_EXPIRES"),
    _s("control_queue_exclusive", bool, True,
       "Make remote control queues exclusive to their connection.",
       "CONTROL_QUEUE_EXCLUSIVE"),
    _s("control_queue_durable", bool, False,
       "Make remote control queues durable.",
       "CONTROL_QUEUE_DURABLE"),
)
# fmt: on


def _build_tables() -> tuple[dict[str, Setting], dict[str, str]]:
    settings: dict[str, Setting] = {}
    old_names: dict[str, str] = {}
    for setting in _TABLE:
        if setting.name in settings:
            raise RuntimeError(f"setting {setting.name!r} is defined twice")
        settings[setting.name] = setting
        for old in setting.old_names:
            if old in old_names:
                raise RuntimeError(f"old name {old!r} maps to two settings")
            old_names[old] = setting.name
    return settings, old_names


#: Every setting by its lowercase name.
SETTINGS: dict[str, Setting]
#: Old uppercase name -> new lowercase name.
OLD_NAMES: dict[str, str]
SETTINGS, OLD_NAMES = _build_tables()

#: Celery's default for each setting whose celeriac default differs.
CELERY_DEFAULTS: dict[str, Any] = {
    "task_acks_late": False,
    "task_reject_on_worker_lost": None,
}

#: Every name difflib may suggest, lowercased -> the name as spelled.
#: (New names win where an old name is just the new one in uppercase.)
_SUGGESTABLE: dict[str, str] = {name.lower(): name for name in (*OLD_NAMES, *SETTINGS)}

_SECRET_KEY = re.compile(r"pass|secret|token|api_?key|access_key|signature", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s;]*:)[^@\s;]*(?=@)", re.I)
_QUERY_SECRET = re.compile(r"(?P<head>[?&][^=&]*(?:pass|secret|token|key)[^=&]*=)[^&\s;]*", re.I)
_MASK = "********"

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80


def describe_type(setting: Setting) -> str:
    """Human-readable type of a setting, e.g. ``"float | timedelta"`` or ``"list"``."""
    names: list[str] = []
    for type_ in setting.types:
        if type_ is object:
            return "any"
        if type_ in (tuple, set, frozenset) and list in setting.types:
            continue
        if type_ is os.PathLike:
            name = "path"
        elif type_ is type:
            name = "class"
        else:
            name = type_.__name__
        if name not in names:
            names.append(name)
    return " | ".join(names)


def _find(name: str) -> Setting | None:
    found = SETTINGS.get(name) or SETTINGS.get(OLD_NAMES.get(name, ""))
    if found is None:
        found = SETTINGS.get(name.lower()) or SETTINGS.get(OLD_NAMES.get(name.upper(), ""))
    return found


def _suggest(key: str) -> str | None:
    """The valid name ``key`` was most likely meant to be, spelled as the user should write it."""
    found = _find(key)
    if found is not None:
        return found.name
    upper = key.upper()
    if upper.startswith("CELERY_") and upper[7:].lower() in SETTINGS:
        return upper[7:].lower()
    matches = difflib.get_close_matches(key.lower(), _SUGGESTABLE, n=1, cutoff=0.7)
    if not matches:
        return None
    match = _SUGGESTABLE[matches[0]]
    # Suggest an old name only to someone writing old (uppercase) names.
    return match if key.isupper() else OLD_NAMES.get(match, match)


def _unknown_message(key: str) -> str:
    suggestion = _suggest(key)
    if suggestion is None:
        hint = "no setting has a similar name"
    elif suggestion in OLD_NAMES:
        hint = f"did you mean {suggestion!r} (new name {OLD_NAMES[suggestion]!r})?"
    elif key.upper().startswith("CELERY_") and suggestion == key[7:].lower():
        hint = f"did you mean {suggestion!r} (or load the config with namespace='CELERY')?"
    else:
        hint = f"did you mean {suggestion!r}?"
    return f"unknown setting {key!r}: {hint} (kept as a custom setting)"


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def _mask(key: str, value: Any) -> Any:
    """``value`` with passwords in URLs and values of secret-looking keys replaced."""
    if value is None:
        return None
    if _is_secret_key(key) and not isinstance(value, bool):
        return _MASK
    if isinstance(value, str):
        value = _URL_PASSWORD.sub(lambda m: m.group("head") + _MASK, value)
        return _QUERY_SECRET.sub(lambda m: m.group("head") + _MASK, value)
    if isinstance(value, Mapping):
        return {k: _mask(str(k), v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_mask(key, v) for v in value)
    return value


def _coerce(setting: Setting, value: Any, given_as: str) -> Any:
    """Validate ``value`` for ``setting``; return it (list strings split on commas).

    Raises:
        ImproperlyConfigured: the value has the wrong type or is not one of the choices.
    """
    if value is None:
        if setting.nullable:
            return None
        _reject(setting, value, given_as)
    types = setting.types
    if object in types:
        return value
    if setting.is_list and isinstance(value, str):
        value = tuple(part.strip() for part in value.split(",") if part.strip())
    ok = isinstance(value, types)
    if isinstance(value, bool) and bool not in types:
        ok = False
    elif not ok and float in types and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if ok and setting.is_list and not all(isinstance(item, str) for item in value):
        ok = False
    if not ok:
        _reject(setting, value, given_as)
    if setting.choices is not None and value not in setting.choices:
        allowed = ", ".join(repr(choice) for choice in setting.choices)
        raise ImproperlyConfigured(
            f"setting {_label(setting, given_as)} must be one of {allowed}; "
            f"got {_shown(setting.name, value)}"
        )
    return value


def _label(setting: Setting, given_as: str) -> str:
    if given_as == setting.name:
        return repr(setting.name)
    return f"{setting.name!r} (given as {given_as!r})"


def _shown(key: str, value: Any) -> str:
    return _repr.repr(_mask(key, value))


def _reject(setting: Setting, value: Any, given_as: str) -> None:
    expected = describe_type(setting)
    if setting.is_list:
        expected = "a list of strings (or a comma-separated string)"
    if setting.nullable:
        expected += " or None"
    raise ImproperlyConfigured(
        f"setting {_label(setting, given_as)} expects {expected}, "
        f"got {type(value).__name__} {_shown(setting.name, value)}"
    )


def _fresh(value: Any) -> Any:
    """A copy of a default, so mutating one Settings never changes the table or another."""
    return copy.deepcopy(value) if isinstance(value, dict | list | set) else value


def _copied(value: Any) -> Any:
    return copy.copy(value) if isinstance(value, dict | list | set) else value


class Settings(MutableMapping[str, Any]):
    """A mutable view of the configuration, starting from the table's defaults.

    Settings are read and written as attributes (``conf.broker_url``) or items
    (``conf["broker_url"]``). Old uppercase names are translated to the new ones when set
    and resolved when read. Values are type-checked when set. Unknown keys are stored, as
    Celery allows custom keys, but warn with ``UnknownSettingWarning`` naming the closest
    valid name. Deleting a known setting resets it to its default.

    Args:
        mapping: Initial values, as for ``update``.
        **kwargs: More initial values.

    Raises:
        ImproperlyConfigured: a value has the wrong type.
    """

    __slots__ = ("_values",)

    _values: dict[str, Any]

    def __init__(self, mapping: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        object.__setattr__(
            self, "_values", {name: _fresh(s.default) for name, s in SETTINGS.items()}
        )
        self._update(mapping, kwargs, stacklevel=3)

    # -- mapping protocol ----------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        values = self._values
        if key in values:
            return values[key]
        new = OLD_NAMES.get(key)
        if new is not None:
            return values[new]
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._update({key: value}, {}, stacklevel=3)

    def __delitem__(self, key: str) -> None:
        name = OLD_NAMES.get(key, key)
        if name in SETTINGS:
            self._values[name] = _fresh(SETTINGS[name].default)
        else:
            del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values or (isinstance(key, str) and key in OLD_NAMES)

    def clear(self) -> None:
        """Reset every setting to its default and drop custom keys."""
        object.__setattr__(
            self, "_values", {name: _fresh(s.default) for name, s in SETTINGS.items()}
        )

    # -- attribute access ----------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            suggestion = _suggest(name)
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            raise AttributeError(f"no setting {name!r}{hint}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        elif hasattr(type(self), name):
            raise AttributeError(
                f"cannot set {name!r}: it is a Settings method; use conf[{name!r}] = ..."
            )
        else:
            self._update({name: value}, {}, stacklevel=3)

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> Iterable[str]:
        return sorted({*super().__dir__(), *(k for k in self._values if k.isidentifier())})

    # -- updating ------------------------------------------------------------------------

    def update(  # type: ignore[override]
        self, mapping: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None, /, **kwargs: Any
    ) -> None:
        """Set several settings at once.

        Old uppercase names are translated to the new names. The update is all or nothing:
        when a value is invalid, nothing is changed.

        Args:
            mapping: A mapping, or an iterable of ``(key, value)`` pairs.
            **kwargs: More settings.

        Raises:
            ImproperlyConfigured: a value has the wrong type, or a setting is given twice
                (under its old and new names) with different values.
        """
        self._update(mapping, kwargs, stacklevel=3)

    def _update(
        self,
        mapping: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
        kwargs: Mapping[str, Any],
        *,
        stacklevel: int,
    ) -> None:
        pairs: list[tuple[Any, Any]] = []
        if mapping is not None:
            pairs.extend(mapping.items() if isinstance(mapping, Mapping) else mapping)
        pairs.extend(kwargs.items())
        staged: dict[str, tuple[str, Any]] = {}
        unknown: list[str] = []
        for key, value in pairs:
            if not isinstance(key, str):
                raise ImproperlyConfigured(
                    f"setting names must be strings, got {type(key).__name__} {key!r}"
                )
            name = OLD_NAMES.get(key, key)
            setting = SETTINGS.get(name)
            if setting is not None:
                value = _coerce(setting, value, key)
            elif not key.startswith("_"):
                unknown.append(key)
            previous = staged.get(name)
            if previous is not None and previous[0] != key and not _same(previous[1], value):
                raise ImproperlyConfigured(
                    f"setting {name!r} is given twice with different values, as "
                    f"{previous[0]!r} and {key!r}; keep only {name!r}"
                )
            staged[name] = (key, value)
        for key in unknown:
            warnings.warn(_unknown_message(key), UnknownSettingWarning, stacklevel=stacklevel)
        for name, (_, value) in staged.items():
            self._values[name] = value

    # -- queries -------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` (new or old name), or ``default`` when it is not set."""
        try:
            return self[key]
        except KeyError:
            return default

    def find(self, name: str) -> Setting | None:
        """The table entry for ``name`` (new or old name, any case), or ``None``."""
        return _find(name)

    def changes(self) -> dict[str, Any]:
        """Values that differ from the defaults, plus custom keys."""
        return {
            key: value
            for key, value in self._values.items()
            if key not in SETTINGS or not _same(value, SETTINGS[key].default)
        }

    def humanize(self, with_defaults: bool = False) -> str:
        """Render the configuration as sorted ``key: value`` lines, secrets masked.

        Passwords in URLs, secret-looking query parameters and the values of keys whose
        names look secret (password, secret, token, ...) are replaced by ``********``.

        Args:
            with_defaults: Include settings still at their default.

        Returns:
            The lines, joined with newlines.
        """
        values = self._values if with_defaults else self.changes()
        return "\n".join(f"{key}: {_mask(key, values[key])!r}" for key in sorted(values))

    def copy(self) -> Settings:
        """An independent copy (dict, list and set values are copied one level deep)."""
        clone = type(self).__new__(type(self))
        object.__setattr__(clone, "_values", {k: _copied(v) for k, v in self._values.items()})
        return clone

    __copy__ = copy

    def __repr__(self) -> str:
        masked = {key: _mask(key, value) for key, value in self.changes().items()}
        return f"{type(self).__name__}({masked!r})"


def _same(a: Any, b: Any) -> bool:
    """Equality that tells ``True`` from ``1`` and survives objects whose ``==`` raises."""
    if a is b:
        return True
    if isinstance(a, bool) is not isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False
