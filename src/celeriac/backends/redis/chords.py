"""Chord counters on Redis, with Celery 5.7's scripts and keys.

A Celery worker and a celeriac worker can complete the same chord: ``<group key>.j`` (a
ZSET of parts scored by group_index, or a list when unordered), ``.t`` (extra parts),
``.s`` (size), ``.d`` (dedupe set of ``<task id>:<index>``), ``.c`` (the dispatch claim,
then ``done``). The scripts are ``lua/chord_part_return.lua`` and
``lua/chord_cleanup.lua``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

from celeriac.backends.base import BackendOptions, ChordBackend, ChordClaim
from celeriac.backends.redis import scripts
from celeriac.backends.redis.store import RedisResultStore

__all__ = ["CHORD_CLAIM_EXPIRES", "CHORD_DONE_EXPIRES", "RedisChords"]

#: Celery's claim lifetime with the default ``result_chord_join_timeout`` (5 s): 2 x 5 s.
CHORD_CLAIM_EXPIRES = 10
#: How long ``.c`` stays ``done`` after cleanup (Celery: max(2 x claim, 300) s).
CHORD_DONE_EXPIRES = 300

#: One part's CHORD_PART_RETURN call: its chord's keys, claim token, script keys and args.
ChordCall = tuple[dict[str, str], str, list[str], list[str | int | bytes]]


def _parts(members: Iterable[object]) -> list[bytes]:
    """The encoded parts a ``ZRANGE``/``LRANGE`` of ``.j`` returned, as bytes."""
    return [m if isinstance(m, bytes) else str(m).encode("utf-8") for m in members]


class RedisChords(ChordBackend, RedisResultStore):
    """The chord counter contract (:class:`~celeriac.backends.base.ChordBackend`) on Redis."""

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        self._chord_scripts: dict[str, Script] = {}
        self._achord_scripts: dict[int, AsyncScript] = {}

    def _chord_keys(self, group_id: str) -> dict[str, str]:
        base = self.group_key(group_id)
        return {suffix: base + "." + suffix for suffix in "jtsdc"} | {"g": base}

    def _chord_script(self, client: redis.Redis, source: str) -> Script:
        """``source`` registered on ``client`` (once per client)."""
        script = self._chord_scripts.get(source)
        if script is None or script.registered_client is not client:
            script = self._chord_scripts[source] = client.register_script(source)
        return script

    def set_chord_size(self, group_id: str, size: int) -> None:
        """Celery 5.7's producer step: ``DEL .c`` then ``SET .s <n> EX <chord expires>``."""
        keys = self._chord_keys(group_id)
        expires = self.config.chord_expires

        def run(client: redis.Redis) -> None:
            client.delete(keys["c"])
            client.set(keys["s"], size, ex=expires or None)

        self._call("set_chord_size", run)

    def apply_chord(self, header_result_args: Sequence[Any], body: object = None, **_: Any) -> None:
        """Celery's producer step for a header ``(group id, results)`` with a group among
        its results: the header is saved (``celery-taskset-meta-<id>``, living as long as
        the chord's keys) so its nesting can be restored; a flat header is not saved."""
        group_id, results = str(header_result_args[0]), list(header_result_args[1])
        if not any(getattr(member, "results", None) is not None for member in results):
            return
        payload = self.encode({"result": ((group_id, None), [r.as_tuple() for r in results])})
        key, expires = self.group_key(group_id), self.config.chord_expires
        self._call("apply_chord", lambda client: client.set(key, payload, ex=expires or None))

    def chord_part_return(
        self, group_id: str, task_id: str, group_index: int | None, part: bytes
    ) -> ChordClaim | None:
        """Celery's CHORD_PART_RETURN script; when it claims, read the parts in order."""
        keys = self._chord_keys(group_id)
        token = uuid.uuid4().hex
        expires = self.config.chord_expires
        ordered = self.config.chord_ordered
        score = "+inf" if group_index is None else str(int(group_index))
        script_keys = [keys["j"], keys["t"], keys["s"], keys["d"], keys["g"], keys["c"]]
        args = [task_id, part, 1 if ordered else 0, score, expires, expires]
        args += [CHORD_CLAIM_EXPIRES, token]

        def run(client: redis.Redis) -> ChordClaim | None:
            script = self._chord_script(client, scripts.CHORD_PART_RETURN)
            ready, _diff, size, claimed = script(keys=script_keys, args=args)
            if ready == -1 or not size or not claimed:
                return None
            if ordered:
                members = client.zrange(keys["j"], 0, -1)
            else:
                members = client.lrange(keys["j"], 0, -1)
            return ChordClaim(token, _parts(members))

        return self._call("chord_part_return", run)

    def _chord_calls(self, parts: Sequence[tuple[str, str, int | None, bytes]]) -> list[ChordCall]:
        """``(keys, token, script keys, script args)`` of each part's CHORD_PART_RETURN."""
        ordered = self.config.chord_ordered
        expires = self.config.chord_expires
        calls = []
        for group_id, task_id, group_index, part in parts:
            keys = self._chord_keys(group_id)
            score = "+inf" if group_index is None else str(int(group_index))
            token = uuid.uuid4().hex
            script_keys = [keys["j"], keys["t"], keys["s"], keys["d"], keys["g"], keys["c"]]
            args = [task_id, part, 1 if ordered else 0, score, expires, expires]
            calls.append((keys, token, script_keys, [*args, CHORD_CLAIM_EXPIRES, token]))
        return calls

    async def achord_parts_return(
        self,
        parts: Sequence[tuple[str, str, int | None, bytes]],
        metas: Sequence[tuple[str, Mapping[str, object]]] = (),
    ) -> list[ChordClaim | None]:
        """Async twin of :meth:`chord_parts_return`, on this loop's asyncio client. The
        ``metas`` are stored first (Celery's STORE) in the same pipeline: one round trip."""
        ordered = self.config.chord_ordered
        calls = self._chord_calls(parts)
        store: tuple[list[str], list[str | int | bytes]] | None = None
        batches = self._by_expiry(metas) if metas else []
        if len(batches) == 1 and self._scriptable():
            store = self._store_args(metas, batches[0][0])
        elif metas:
            await self.astore_many(metas)

        async def run(client: redis.asyncio.Redis) -> list[ChordClaim | None]:
            registered = self._achord_scripts
            script = registered.get(id(client))
            if script is None:
                registered.clear()
                script = registered[id(client)] = client.register_script(scripts.CHORD_PART_RETURN)
            async with client.pipeline(transaction=False) as pipe:
                if store is not None:
                    await self._async_state().store(keys=store[0], args=store[1], client=pipe)
                for _, _, script_keys, args in calls:
                    await script(keys=script_keys, args=args, client=pipe)
                replies = await pipe.execute()
            if store is not None:
                replies = replies[1:]
            claims: list[ChordClaim | None] = []
            for (keys, token, _, _), (ready, _diff, size, claimed) in zip(
                calls, replies, strict=True
            ):
                if ready == -1 or not size or not claimed:
                    claims.append(None)
                    continue
                if ordered:
                    members = await client.zrange(keys["j"], 0, -1)
                else:
                    members = await client.lrange(keys["j"], 0, -1)
                claims.append(ChordClaim(token, _parts(members)))
            return claims

        return await self._acall("chord_parts_return", run)

    def chord_parts_return(
        self, parts: Sequence[tuple[str, str, int | None, bytes]]
    ) -> list[ChordClaim | None]:
        """Several parts in one pipeline of CHORD_PART_RETURN calls (each one atomic)."""
        if len(parts) == 1:
            return [self.chord_part_return(*parts[0])]
        ordered = self.config.chord_ordered
        calls = self._chord_calls(parts)

        def run(client: redis.Redis) -> list[ChordClaim | None]:
            script = self._chord_script(client, scripts.CHORD_PART_RETURN)
            with client.pipeline(transaction=False) as pipe:
                for _, _, script_keys, args in calls:
                    script(keys=script_keys, args=args, client=pipe)
                replies = pipe.execute()
            claims: list[ChordClaim | None] = []
            for (keys, token, _, _), (ready, _diff, size, claimed) in zip(
                calls, replies, strict=True
            ):
                if ready == -1 or not size or not claimed:
                    claims.append(None)
                    continue
                if ordered:
                    members = client.zrange(keys["j"], 0, -1)
                else:
                    members = client.lrange(keys["j"], 0, -1)
                claims.append(ChordClaim(token, _parts(members)))
            return claims

        return self._call("chord_parts_return", run)

    def chord_cleanup(self, group_id: str, token: str) -> None:
        """Celery's CHORD_CLEANUP script: drop ``.j .t .s .d`` and mark ``.c`` done."""
        keys = self._chord_keys(group_id)

        def run(client: redis.Redis) -> None:
            script = self._chord_script(client, scripts.CHORD_CLEANUP)
            script(
                keys=[keys["c"], keys["j"], keys["t"], keys["s"], keys["d"]],
                args=[token, CHORD_DONE_EXPIRES],
            )

        self._call("chord_cleanup", run)

    def add_to_chord(self, group_id: str, count: int = 1) -> None:
        """``INCRBY .t`` as Celery's ``add_to_chord``."""
        key = self._chord_keys(group_id)["t"]
        self._call("add_to_chord", lambda client: client.incrby(key, count))
