"""The ``django-db`` result backend: results in django-celery-results' tables.

``CELERY_RESULT_BACKEND = "django-db"`` (the name django-celery-results users have in
their settings) with ``"celeriac.contrib.django.results"`` in ``INSTALLED_APPS``. Rows are
written as django-celery-results writes them, so Celery with django-celery-results and
celeriac read each other's results. Chords count their parts in ``ChordCounter`` (and
celeriac's ``CeleriacChordPart`` rows, so a redelivered part is not counted twice).
``result_expires`` is applied by the ``celery.backend_cleanup`` task (beat runs it daily
at 04:00) and by reads, which treat an expired row as missing.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from celeriac import states
from celeriac.backends.base import Backend, BackendOptions, ChordBackend, ChordClaim
from celeriac.contrib.django.results import threads
from celeriac.protocol import serializers
from celeriac.protocol.saferepr import saferepr
from celeriac.utils.log import own_logger

__all__ = ["DatabaseBackend"]

logger = own_logger(__name__)

T = TypeVar("T")
ClaimOrNone = ChordClaim | None

#: Meta keys kept in their own columns; the others go in the ``meta`` column.
_COLUMNS = frozenset(
    {"status", "result", "traceback", "task_id", "date_done", "name", "args", "kwargs", "worker"}
)


class DatabaseBackend(ChordBackend, Backend):
    """Task, group and chord state in the project's database, through Django's ORM."""

    schemes = ("django-db",)
    crosses_processes = True
    #: rows do not expire by themselves: ``celery.backend_cleanup`` deletes them (beat
    #: schedules it daily at 04:00, as Celery does)
    supports_autoexpire: ClassVar[bool] = False

    def __init__(self, url: str, options: BackendOptions | None = None) -> None:
        super().__init__(url, options)
        from celeriac.contrib.django.results import models

        self.models = models

    def __repr__(self) -> str:
        return f"<{type(self).__name__} django-db>"

    # -- encoding --------------------------------------------------------------------
    def encode_content(self, value: object) -> tuple[str, str, str]:
        """``(content_type, content_encoding, text)`` as django-celery-results stores it."""
        content_type, encoding, payload = serializers.dumps(value, self.options.serializer)
        if encoding == "binary":
            return content_type, encoding, base64.b64encode(payload).decode("ascii")
        return content_type, encoding, payload.decode(encoding or "utf-8")

    def decode_content(self, content_type: str, encoding: str, text: str | None) -> Any:
        """The value of a stored column (None when empty)."""
        if not text:
            return None
        raw = base64.b64decode(text) if encoding == "binary" else text.encode(encoding or "utf-8")
        return serializers.loads(raw, content_type, encoding, accept=self.options.accept)

    def _row_fields(self, meta: Mapping[str, object]) -> dict[str, Any]:
        status = str(meta.get("status") or states.PENDING)
        content_type, encoding, result = self.encode_content(meta.get("result"))
        extra = {k: v for k, v in meta.items() if k not in _COLUMNS and v is not None}
        extra.setdefault("children", meta.get("children") or [])
        fields: dict[str, Any] = {
            "status": status,
            "result": result,
            "content_type": content_type,
            "content_encoding": encoding,
            "traceback": meta.get("traceback"),
            "meta": self.encode_content(extra)[2],
            "date_done": _now(),
        }
        if meta.get("name") is not None or meta.get("worker") is not None:  # result_extended
            fields["task_name"] = meta.get("name")
            fields["worker"] = meta.get("worker")
            # the arguments' repr as the producer's argsrepr shows them: a tuple
            args = meta.get("args") or ()
            args = tuple(args) if isinstance(args, list) else args
            fields["task_args"] = self.encode_content(saferepr(args))[2]
            fields["task_kwargs"] = self.encode_content(saferepr(meta.get("kwargs") or {}))[2]
        if meta.get("periodic_task_name") is not None:
            fields["periodic_task_name"] = meta.get("periodic_task_name")
        if status == states.STARTED:
            fields["date_started"] = fields["date_done"]
        return fields

    def _meta_of(self, row: Any) -> dict[str, Any]:
        decode = self._decoder(row)
        meta: dict[str, Any] = {"children": []}
        stored = decode(row.meta)
        if isinstance(stored, dict):
            meta.update(stored)
        meta.update(
            task_id=row.task_id,
            status=row.status,
            result=decode(row.result),
            traceback=row.traceback,
            date_done=row.date_done.isoformat() if row.date_done else None,
        )
        if row.task_name is not None or row.worker is not None:
            meta.update(name=row.task_name, worker=row.worker)
            meta["args"] = _maybe(decode, row.task_args)
            meta["kwargs"] = _maybe(decode, row.task_kwargs)
        if row.periodic_task_name:
            meta["periodic_task_name"] = row.periodic_task_name
        return meta

    def _decoder(self, row: Any) -> Callable[[str | None], Any]:
        return lambda text: self.decode_content(row.content_type, row.content_encoding, text)

    def _alive(self, row: Any, status: str | None = None) -> bool:
        return self._alive_at(row.date_done, status)

    def _alive_at(self, done: dt.datetime | None, status: str | None = None) -> bool:
        expires = self.options.expires_for(status)
        if not expires or done is None:
            return True
        return bool(done > _now() - dt.timedelta(seconds=expires))

    # -- storage ---------------------------------------------------------------------
    def store_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Store metas in one transaction; a stored ``SUCCESS`` is never overwritten."""
        if items:
            threads.run(lambda: self._store_rows(items))

    async def astore_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Async twin of :meth:`store_many` (on the backend's threads)."""
        if items:
            await threads.run_async(lambda: self._store_rows(items))

    def _store_rows(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """One transaction: read which rows exist (one query), insert the new ones (one
        statement), update the others; a SUCCESS stays unless it expired."""
        from django.db import IntegrityError, router, transaction

        model = self.models.TaskResult
        using = router.db_for_write(model)
        ids = [task_id for task_id, _ in items]
        if len(set(ids)) != len(ids):  # one id twice: in order, one at a time
            for item in items:
                self._store_rows([item])
            return
        try:
            with transaction.atomic(using=using):
                self._write_batch(model, items)
        except IntegrityError:  # a row was created meanwhile by another process
            with transaction.atomic(using=using):
                self._write_batch(model, items)

    def _write_batch(self, model: Any, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        _lock_sqlite(model)
        ids = [task_id for task_id, _ in items]
        existing = {
            task_id: (status, done)
            for task_id, status, done in model.objects.filter(task_id__in=ids).values_list(
                "task_id", "status", "date_done"
            )
        }
        new = []
        for task_id, meta in items:
            fields = self._row_fields(meta)
            if task_id not in existing:
                new.append(model(task_id=task_id, **fields))
                continue
            status, done = existing[task_id]
            if status == states.SUCCESS and self._alive_at(done, status):
                continue
            model.objects.filter(task_id=task_id).update(**fields)
        if new:
            model.objects.bulk_create(new)

    def get(self, task_id: str) -> dict[str, Any] | None:
        """A task's meta; None when there is no row or it expired."""
        return threads.run(lambda: self._get(task_id))

    async def aget(self, task_id: str) -> dict[str, Any] | None:
        """Async twin of :meth:`get`."""
        return await threads.run_async(lambda: self._get(task_id))

    def _get(self, task_id: str) -> dict[str, Any] | None:
        found = list(self.models.TaskResult.objects.filter(task_id=task_id).order_by()[:1])
        row = found[0] if found else None
        if row is None or not self._alive(row, row.status):
            return None
        return self._meta_of(row)

    def forget(self, task_id: str) -> None:
        """Delete a task's row."""
        threads.run(lambda: self.models.TaskResult.objects.filter(task_id=task_id).delete())

    def save_group(self, group_id: str, meta: Mapping[str, object]) -> None:
        """Store a group (``GroupResult.save()``)."""
        content_type, encoding, result = self.encode_content(meta.get("result"))
        fields = {
            "content_type": content_type,
            "content_encoding": encoding,
            "result": result,
            "date_done": _now(),
        }
        threads.run(lambda: _upsert(self.models.GroupResult, group_id, fields))

    def get_group(self, group_id: str) -> dict[str, Any] | None:
        """A saved group's meta (``{"result": <group tuple>, "date_done": ...}``)."""

        def read() -> dict[str, Any] | None:
            row = self.models.GroupResult.objects.filter(group_id=group_id).first()
            if row is None or not self._alive(row):
                return None
            return {
                "result": self._decoder(row)(row.result),
                "date_done": row.date_done.isoformat() if row.date_done else None,
            }

        return threads.run(read)

    def forget_group(self, group_id: str) -> None:
        """Delete a saved group."""
        threads.run(lambda: self.models.GroupResult.objects.filter(group_id=group_id).delete())

    def cleanup(self) -> int:
        """Delete the rows older than ``result_expires`` (``celery.backend_cleanup``)."""
        return threads.run(self._cleanup)

    def _cleanup(self) -> int:
        expires = self.options.expires
        if not expires:
            return 0
        cutoff = _now() - dt.timedelta(seconds=expires)
        removed = 0
        for model in (self.models.TaskResult, self.models.GroupResult):
            while True:  # in batches, as django-celery-results does
                ids = list(
                    model.objects.filter(date_done__lt=cutoff)
                    .order_by("id")
                    .values_list("id", flat=True)[:10000]
                )
                if not ids:
                    break
                removed += model.objects.filter(id__in=ids).delete()[0]
        return removed

    # -- chords ----------------------------------------------------------------------
    def set_chord_size(self, group_id: str, size: int) -> None:
        """Create the chord's counter (django-celery-results' ``ChordCounter``)."""
        fields = {"count": size, "sub_tasks": "[]"}
        threads.run(lambda: _upsert(self.models.ChordCounter, group_id, fields))

    def chord_part_return(
        self, group_id: str, task_id: str, group_index: int | None, part: bytes
    ) -> ChordClaim | None:
        """Record a part and count it down; the call that reaches 0 gets the claim."""
        return threads.run(lambda: self._part_return(group_id, task_id, group_index, part))

    def _part_return(
        self, group_id: str, task_id: str, group_index: int | None, part: bytes
    ) -> ChordClaim | None:
        from django.db import IntegrityError, router, transaction
        from django.db.models import F

        counter = self.models.ChordCounter
        parts = self.models.CeleriacChordPart
        index = 2**62 if group_index is None else group_index
        with transaction.atomic(using=router.db_for_write(counter)):
            try:
                with transaction.atomic(using=router.db_for_write(counter)):
                    parts.objects.create(
                        group_id=group_id,
                        task_id=task_id,
                        group_index=index,
                        part=_part_text(part),
                    )
            except IntegrityError:
                return None  # this part was counted already (a redelivery)
            rows = counter.objects.filter(group_id=group_id, count__gt=0)
            if not rows.update(count=F("count") - 1):
                logger.warning("Chord %s: no counter to count part %s down", group_id, task_id)
                return None
            left = counter.objects.filter(group_id=group_id).values_list("count", flat=True)
            if left.first() != 0:
                return None
            members = list(
                parts.objects.filter(group_id=group_id)
                .order_by("group_index", "id")
                .values_list("part", flat=True)
            )
        return ChordClaim(uuid.uuid4().hex, [_part_bytes(m) for m in members])

    def chord_parts_return(
        self, parts: Sequence[tuple[str, str, int | None, bytes]]
    ) -> list[ChordClaim | None]:
        """Several parts on one thread hop."""
        return threads.run(lambda: [self._part_return(*part) for part in parts])

    async def achord_parts_return(
        self,
        parts: Sequence[tuple[str, str, int | None, bytes]],
        metas: Sequence[tuple[str, Mapping[str, object]]] = (),
    ) -> list[ChordClaim | None]:
        """Store the header results, then count their parts, on the backend's threads."""

        def work() -> list[ClaimOrNone]:
            if metas:
                self._store_rows(metas)
            return [self._part_return(*part) for part in parts]

        return await threads.run_async(work)

    def add_to_chord(self, group_id: str, count: int = 1) -> None:
        """Wait for ``count`` more parts (``Task.add_to_chord``)."""
        from django.db.models import F

        threads.run(
            lambda: self.models.ChordCounter.objects.filter(group_id=group_id).update(
                count=F("count") + count
            )
        )

    def chord_cleanup(self, group_id: str, token: str) -> None:
        """Drop a completed chord's counter and parts."""

        def drop() -> None:
            self.models.ChordCounter.objects.filter(group_id=group_id).delete()
            self.models.CeleriacChordPart.objects.filter(group_id=group_id).delete()

        threads.run(drop)


def _lock_sqlite(model: Any) -> None:
    """On SQLite, take the write lock as the transaction starts: one that reads and then
    writes fails at once with "database is locked" when another process wrote meanwhile."""
    from django.db import connections, router

    if connections[router.db_for_write(model)].vendor == "sqlite":
        model.objects.filter(id=-1).update(id=-1)


def _upsert(model: Any, group_id: str, fields: Mapping[str, Any]) -> None:
    from django.db import router, transaction

    with transaction.atomic(using=router.db_for_write(model)):
        _lock_sqlite(model)
        model.objects.update_or_create(group_id=group_id, defaults=dict(fields))


def _now() -> dt.datetime:
    from django.utils import timezone

    now: dt.datetime = timezone.now()
    return now


def _maybe(decode: Callable[[str | None], T], text: str | None) -> T | str | None:
    """A decoded argument column; the text itself when it is not in the serializer."""
    try:
        return decode(text)
    except Exception:
        return text


def _part_text(part: bytes) -> str:
    """An encoded part as column text (base64 behind ``b64:`` when it is not UTF-8)."""
    try:
        return part.decode("utf-8")
    except UnicodeDecodeError:
        return "b64:" + base64.b64encode(part).decode("ascii")


def _part_bytes(text: str) -> bytes:
    if text.startswith("b64:"):
        return base64.b64decode(text[4:])
    return text.encode("utf-8")
