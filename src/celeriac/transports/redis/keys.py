"""The Redis broker's key layout: every key name, in one place (kombu's, plus celeriac's own).

Every key carries ``global_keyprefix`` (``P`` below); ``SEP`` is kombu's ``\\x06\\x16``.

=====================================  =====  ============================================
key                                    type   what it holds
=====================================  =====  ============================================
``P<queue>``, ``P<queue>SEP3|6|9``     list   the queue, one list per priority step
                                              (kombu's ``priority_steps``); LPUSH, pop right
``P_kombu.binding.<exchange>``         set    ``routing_key SEP SEP queue`` bindings (kombu)
``P_kombu.binding_permanent.<ex>``     set    the same, never swept (kombu 5.7)
``P_kombu.binding_deadlines``          zset   exchange → deadline in ms (kombu 5.7)
``Punacked``                           hash   tag → ``[envelope, exchange, routing_key]``
``Punacked_index``                     zset   tag → delivery (or renewal) time
``Punacked_mutex``                     str    the restore mutex (kombu's ``restore_visible``)
``P/<db>.<exchange>[/<routing key>]``  chan   fanout PUB/SUB channel (kombu's fanout_prefix)
-------------------------------------  -----  --------------------------------------------
``P<queue>SEPeta``                     zset   envelopes parked until their ETA (celeriac)
``Pceleriac.deliveries``               hash   tag → delivery count
``Pceleriac.deliveries_unleased``      zset   tag → when its count was first seen unleased
``Pceleriac.owners``                   hash   tag → consumer id holding the lease
``Pceleriac.dead_letters``             stream dead letters (queue, reason, payload, …)
``Pceleriac.consumers``                zset   ``consumer SEP queue`` → inflight heartbeat
``Pceleriac.inflightSEP<member>``      list   what BLMOVE moved for a waiting consumer
``Pceleriac.unacked_raw``              hash   raw tag → ``<len>:<source list><bytes>``
``Pceleriac.unacked_raw_index``        zset   raw tag → delivery time
``Pceleriac.sequence``                 str    counter for made-up delivery tags
``Pceleriac.lock.<name>[.state]``      str,   beat's leader lock, and its state hash
                                       hash
``Pceleriac.rateSEP<key>``             str    a global rate limit's theoretical arrival
=====================================  =====  ============================================

The names under the line are celeriac's own (Celery ignores them). The Lua scripts name
two of them themselves: ``celeriac.inflight`` (RETURN_INFLIGHT) and the ``celeriac-raw-``
tag prefix (LEASE, REQUEUE).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRIORITY_STEPS", "RAW_TAG_PREFIX", "SEP", "RedisKeys"]

#: kombu's separator between a queue name and its priority step (``sep``).
SEP = "\x06\x16"
#: kombu's default priority steps: a queue is up to four lists.
PRIORITY_STEPS = (0, 3, 6, 9)
#: Delivery tags celeriac makes up for list items that are not kombu envelopes.
RAW_TAG_PREFIX = "celeriac-raw-"
#: The steps of a reply queue's lists (kombu's defaults, whatever ``priority_steps`` says).
REPLY_STEPS = (3, 6, 9)


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """The key names of one broker (one ``global_keyprefix``), made once.

    Fixed keys are attributes; per-queue, per-exchange and per-name keys are methods.
    """

    prefix: str
    sep: str
    priority_steps: tuple[int, ...]
    unacked: str
    unacked_index: str
    unacked_mutex: str
    deliveries: str
    deliveries_unleased: str
    owners: str
    dead_letters: str
    consumers: str
    unacked_raw: str
    unacked_raw_index: str
    sequence: str
    binding_deadlines: str
    #: the inflight key LEASE gets for a queue past the blockers' limit (never written)
    unused: str
    #: ``/<db>.`` (kombu's ``fanout_prefix``), or what the option says
    fanout_prefix: str
    #: kombu's ``fanout_patterns``: the routing key is part of the channel
    fanout_patterns: bool

    @classmethod
    def make(
        cls,
        prefix: str,
        sep: str,
        priority_steps: tuple[int, ...],
        *,
        unacked: str = "unacked",
        unacked_index: str = "unacked_index",
        unacked_mutex: str = "unacked_mutex",
        fanout_prefix: str = "",
        fanout_patterns: bool = True,
    ) -> RedisKeys:
        """The keys under ``prefix``; the three ``unacked`` names are kombu's options."""
        return cls(
            prefix=prefix,
            sep=sep,
            priority_steps=priority_steps,
            unacked=prefix + unacked,
            unacked_index=prefix + unacked_index,
            unacked_mutex=prefix + unacked_mutex,
            deliveries=prefix + "celeriac.deliveries",
            deliveries_unleased=prefix + "celeriac.deliveries_unleased",
            owners=prefix + "celeriac.owners",
            dead_letters=prefix + "celeriac.dead_letters",
            consumers=prefix + "celeriac.consumers",
            unacked_raw=prefix + "celeriac.unacked_raw",
            unacked_raw_index=prefix + "celeriac.unacked_raw_index",
            sequence=prefix + "celeriac.sequence",
            binding_deadlines=prefix + "_kombu.binding_deadlines",
            unused=prefix + "celeriac.unused",
            fanout_prefix=fanout_prefix,
            fanout_patterns=fanout_patterns,
        )

    # -- queues --------------------------------------------------------------------------
    def list_key(self, queue: str, priority: int = 0) -> str:
        """The list a message of ``priority`` goes to, as kombu's ``_q_for_pri``."""
        step = 0
        for candidate in self.priority_steps:
            if candidate <= priority:
                step = candidate
        return f"{self.prefix}{queue}{self.sep}{step}" if step else f"{self.prefix}{queue}"

    def queue_lists(self, queue: str) -> list[str]:
        """Every list of ``queue``, priority step 0 first."""
        return [
            f"{self.prefix}{queue}{self.sep}{s}" if s else f"{self.prefix}{queue}"
            for s in self.priority_steps
        ]

    def eta(self, queue: str) -> str:
        """The sorted set holding ``queue``'s messages that wait for their ETA."""
        return f"{self.prefix}{queue}{self.sep}eta"

    def inflight(self, member: str) -> str:
        """The list BLMOVE fills for a waiting consumer (``member``: ``consumer SEP queue``)."""
        return f"{self.prefix}celeriac.inflight{self.sep}{member}"

    def reply_lists(self, queue: str) -> list[str]:
        """A reply queue's lists, priority 0 first."""
        base = f"{self.prefix}{queue}"
        return [base, *(f"{base}{self.sep}{step}" for step in REPLY_STEPS)]

    # -- exchanges -------------------------------------------------------------------------
    def binding(self, exchange: str) -> str:
        """kombu's binding table of ``exchange``."""
        return f"{self.prefix}_kombu.binding.{exchange}"

    def binding_permanent(self, exchange: str) -> str:
        """kombu 5.7's permanent copy of the binding table (never swept)."""
        return f"{self.prefix}_kombu.binding_permanent.{exchange}"

    def exchange_of(self, binding: str) -> str:
        """The exchange a binding table (:meth:`binding`) belongs to."""
        return binding[len(self.prefix) + len("_kombu.binding.") :]

    def binding_member(self, routing_key: str, queue: str) -> str:
        """A binding table's member: ``routing_key SEP SEP queue`` (no pattern)."""
        return self.sep.join([routing_key, "", queue])

    def fanout_channel(self, exchange: str, routing_key: str = "") -> str:
        """The PUB/SUB channel kombu uses for ``exchange`` (and a routing key)."""
        channel = f"{self.prefix}{self.fanout_prefix}{exchange}"
        if routing_key and self.fanout_patterns:
            channel += "/" + routing_key
        return channel

    # -- beat and rate limits ---------------------------------------------------------------
    def lock(self, name: str) -> str:
        """The leader lock ``name`` (its state hash is this key + ``.state``)."""
        return f"{self.prefix}celeriac.lock.{name}"

    def rate(self, key: str) -> str:
        """The limiter of a cluster-wide rate limit."""
        return f"{self.prefix}celeriac.rate{self.sep}{key}"

    # -- the key lists the scripts take ------------------------------------------------------
    @property
    def settle_keys(self) -> list[str]:
        """KEYS of ACK and REQUEUE."""
        return [
            self.unacked,
            self.unacked_index,
            self.deliveries,
            self.owners,
            self.unacked_raw,
            self.unacked_raw_index,
        ]

    @property
    def dead_letter_keys(self) -> list[str]:
        """KEYS of DEAD_LETTER."""
        return [
            self.unacked,
            self.unacked_index,
            self.deliveries,
            self.owners,
            self.dead_letters,
            self.unacked_raw,
            self.unacked_raw_index,
        ]

    @property
    def lease_keys(self) -> list[str]:
        """The fixed KEYS of LEASE (the per-queue ones follow)."""
        return [
            self.unacked,
            self.unacked_index,
            self.deliveries,
            self.owners,
            self.dead_letters,
            self.consumers,
            self.unacked_raw,
            self.unacked_raw_index,
            self.sequence,
        ]

    def defer_keys(self, queue: str) -> list[str]:
        """KEYS of DEFER for a message of ``queue``."""
        return [self.unacked, self.unacked_index, self.deliveries, self.owners, self.eta(queue)]

    @property
    def sweep_keys(self) -> list[str]:
        """KEYS of SWEEP."""
        return [
            self.unacked,
            self.unacked_raw,
            self.owners,
            self.deliveries,
            self.deliveries_unleased,
        ]
