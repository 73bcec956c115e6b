"""The SQLite broker's storage layout: every table, column and statement, in one place.

==========================  ===============================================================
table                       what a row is
==========================  ===============================================================
``celeriac_messages``       a message: queue, priority, ``not_before`` (0 = ready; else
                            when a lease ends or an ETA comes), lease owner and end,
                            delivery count, payload (kombu's envelope bytes)
``celeriac_dead_letters``   a parked message: queue, reason, payload, time, task id/name
``celeriac_broadcast``      a broadcast (fanout) message, kept ``BROADCAST_TTL`` seconds
``celeriac_bindings``       a reply queue bound to an exchange with a routing key
``celeriac_replies``        a reply waiting in a reply queue
``celeriac_locks``          a leader lock: owner and expiry (epoch seconds)
``celeriac_lock_state``     key/value state written beside a lock by its holder
``celeriac_rate_limits``    a cluster-wide rate limit: key and theoretical arrival time
==========================  ===============================================================

A message is ready when ``not_before = 0``. A future ETA or a lease sets ``not_before`` to
the time it may be handed out again; each fetch first turns due rows back to 0 (which is
how expired leases come back), so the hot path only reads the partial index of ready
rows, in (queue, priority DESC, id) order. The result backend's tables
(``celeriac_results`` …) may live in the same file; they are the backend's.
"""

from __future__ import annotations

__all__ = [
    "ANY_DUE",
    "ANY_READY",
    "BIND",
    "BOUND_QUEUES",
    "BROADCAST_SCHEMA",
    "DEAD_LETTERS",
    "DEAD_LETTERS_OF_QUEUE",
    "DELETE",
    "DELETE_DEAD",
    "DROP_OLD_BROADCASTS",
    "DROP_OLD_REPLIES",
    "DROP_REPLIES",
    "INSERT",
    "INSERT_BROADCAST",
    "INSERT_DEAD",
    "INSERT_REPLY",
    "LEASE",
    "LOCK_HOLDER",
    "LOCK_SCHEMA",
    "MESSAGES_SCHEMA",
    "NEWEST_BROADCAST",
    "NEXT_DUE",
    "OLDEST_REPLY",
    "OWNED",
    "OWNERS",
    "PURGE",
    "QUEUE_LENGTH",
    "RATE_SCHEMA",
    "READ_BROADCASTS",
    "READ_LOCK_STATE",
    "READ_RATE",
    "RELEASE_DUE",
    "RELEASE_LOCK",
    "RELEASE_OWNER",
    "RENEW",
    "REQUEUE",
    "SELECT_DEAD",
    "SELECT_LEASED",
    "SELECT_READY",
    "TAKE_LOCK",
    "TAKE_REPLY",
    "UNBIND_QUEUE",
    "UNCOUNT",
    "WRITE_LOCK_STATE",
    "WRITE_RATE",
]

# -- messages and dead letters (created when the transport opens the file) -----------------
MESSAGES_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS celeriac_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        not_before REAL NOT NULL DEFAULT 0,
        lease_owner TEXT,
        leased_until REAL,
        delivery_count INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        payload BLOB NOT NULL
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS celeriac_messages_ready
        ON celeriac_messages (queue, priority DESC, id) WHERE not_before = 0
    """,
    """
    CREATE INDEX IF NOT EXISTS celeriac_messages_waiting
        ON celeriac_messages (not_before) WHERE not_before > 0
    """,
    """
    CREATE INDEX IF NOT EXISTS celeriac_messages_owner
        ON celeriac_messages (lease_owner) WHERE lease_owner IS NOT NULL
    """,
    """
    CREATE TABLE IF NOT EXISTS celeriac_dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload BLOB NOT NULL,
        created_at REAL NOT NULL,
        task_id TEXT,
        task_name TEXT,
        delivery_count INTEGER NOT NULL DEFAULT 0
    )
    """,
)

INSERT = (
    "INSERT INTO celeriac_messages (queue, priority, not_before, created_at, payload)"
    " VALUES (?, ?, ?, ?, ?)"
)
RELEASE_DUE = (
    "UPDATE celeriac_messages SET not_before = 0, lease_owner = NULL, leased_until = NULL"
    " WHERE not_before > 0 AND not_before <= ?"
)
SELECT_READY = (
    "SELECT id, delivery_count, payload FROM celeriac_messages"
    " WHERE queue = ? AND not_before = 0 ORDER BY priority DESC, id LIMIT ?"
)
ANY_READY = "SELECT 1 FROM celeriac_messages WHERE queue = ? AND not_before = 0 LIMIT 1"
ANY_DUE = "SELECT 1 FROM celeriac_messages WHERE not_before > 0 AND not_before <= ? LIMIT 1"
NEXT_DUE = "SELECT MIN(not_before) FROM celeriac_messages WHERE not_before > 0"
LEASE = (
    "UPDATE celeriac_messages SET not_before = ?, leased_until = ?, lease_owner = ?,"
    " delivery_count = delivery_count + 1 WHERE id = ?"
)
RENEW = (
    "UPDATE celeriac_messages SET not_before = ?, leased_until = ? WHERE id = ? AND lease_owner = ?"
)
REQUEUE = (
    "UPDATE celeriac_messages SET not_before = 0, lease_owner = NULL, leased_until = NULL,"
    " delivery_count = MAX(delivery_count - ?, 0) WHERE id = ? AND lease_owner = ?"
)
RELEASE_OWNER = (
    "UPDATE celeriac_messages SET not_before = 0, lease_owner = NULL, leased_until = NULL"
    " WHERE lease_owner = ?"
)
OWNED = "SELECT id FROM celeriac_messages WHERE lease_owner = ?"
UNCOUNT = "UPDATE celeriac_messages SET delivery_count = MAX(delivery_count - 1, 0) WHERE id = ?"
OWNERS = "SELECT DISTINCT lease_owner FROM celeriac_messages WHERE lease_owner IS NOT NULL"
DELETE = "DELETE FROM celeriac_messages WHERE id = ?"
SELECT_LEASED = "SELECT payload, delivery_count FROM celeriac_messages WHERE id = ?"
INSERT_DEAD = (
    "INSERT INTO celeriac_dead_letters"
    " (queue, reason, payload, created_at, task_id, task_name, delivery_count)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
QUEUE_LENGTH = (
    "SELECT (SELECT COUNT(*) FROM celeriac_messages WHERE queue = ? AND not_before = 0)"
    " + (SELECT COUNT(*) FROM celeriac_messages WHERE not_before > 0 AND queue = ?"
    " AND (lease_owner IS NULL OR leased_until <= ?))"
)
PURGE = (
    "DELETE FROM celeriac_messages WHERE queue = ? AND (lease_owner IS NULL OR leased_until <= ?)"
)
DEAD_LETTERS = (
    "SELECT id, queue, reason, payload, created_at, task_id, task_name"
    " FROM celeriac_dead_letters ORDER BY id DESC LIMIT ?"
)
DEAD_LETTERS_OF_QUEUE = (
    "SELECT id, queue, reason, payload, created_at, task_id, task_name"
    " FROM celeriac_dead_letters WHERE queue = ? ORDER BY id DESC LIMIT ?"
)
SELECT_DEAD = "SELECT queue, payload FROM celeriac_dead_letters WHERE id = ?"
DELETE_DEAD = "DELETE FROM celeriac_dead_letters WHERE id = ?"

# -- broadcast and reply queues (created on first use, once per process) -------------------
BROADCAST_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS celeriac_broadcast (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        exchange TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        created_at REAL NOT NULL,
        payload BLOB NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS celeriac_bindings (
        exchange TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        queue TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (exchange, routing_key, queue)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS celeriac_replies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        created_at REAL NOT NULL,
        payload BLOB NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS celeriac_replies_queue ON celeriac_replies (queue, id)",
)

READ_BROADCASTS = (
    "SELECT id, routing_key, payload FROM celeriac_broadcast"
    " WHERE id > ? AND exchange = ? ORDER BY id LIMIT 100"
)
DROP_OLD_BROADCASTS = "DELETE FROM celeriac_broadcast WHERE created_at < ?"
INSERT_BROADCAST = (
    "INSERT INTO celeriac_broadcast (exchange, routing_key, created_at, payload)"
    " VALUES (?, ?, ?, ?)"
)
NEWEST_BROADCAST = "SELECT MAX(id) FROM celeriac_broadcast"
BIND = "INSERT OR REPLACE INTO celeriac_bindings VALUES (?, ?, ?, ?)"
BOUND_QUEUES = "SELECT queue FROM celeriac_bindings WHERE exchange = ? AND routing_key = ?"
DROP_OLD_REPLIES = "DELETE FROM celeriac_replies WHERE created_at < ?"
INSERT_REPLY = "INSERT INTO celeriac_replies (queue, created_at, payload) VALUES (?, ?, ?)"
OLDEST_REPLY = "SELECT id, payload FROM celeriac_replies WHERE queue = ? ORDER BY id LIMIT 1"
TAKE_REPLY = "DELETE FROM celeriac_replies WHERE id = ?"
UNBIND_QUEUE = "DELETE FROM celeriac_bindings WHERE queue = ?"
DROP_REPLIES = "DELETE FROM celeriac_replies WHERE queue = ?"

# -- leader locks (created on first use) ---------------------------------------------------
LOCK_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS celeriac_locks"
    " (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS celeriac_lock_state"
    " (lock TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (lock, key))",
)

LOCK_HOLDER = "SELECT owner, expires_at FROM celeriac_locks WHERE name = ?"
TAKE_LOCK = (
    "INSERT INTO celeriac_locks (name, owner, expires_at) VALUES (?, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
    " expires_at = excluded.expires_at"
)
RELEASE_LOCK = "DELETE FROM celeriac_locks WHERE name = ? AND owner = ?"
READ_LOCK_STATE = "SELECT key, value FROM celeriac_lock_state WHERE lock = ?"
WRITE_LOCK_STATE = (
    "INSERT INTO celeriac_lock_state (lock, key, value) VALUES (?, ?, ?)"
    " ON CONFLICT (lock, key) DO UPDATE SET value = excluded.value"
)

# -- cluster-wide rate limits (created by every reservation) -------------------------------
RATE_SCHEMA = """
    CREATE TABLE IF NOT EXISTS celeriac_rate_limits (
        key TEXT PRIMARY KEY,
        tat REAL NOT NULL
    )
"""

READ_RATE = "SELECT tat FROM celeriac_rate_limits WHERE key = ?"
WRITE_RATE = (
    "INSERT INTO celeriac_rate_limits (key, tat) VALUES (?, ?) "
    "ON CONFLICT(key) DO UPDATE SET tat = excluded.tat"
)
