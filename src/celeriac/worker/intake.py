"""Intake: a fetched delivery becomes a job, or is turned away at the door.

Turned away, with one log line each and nothing lost: an undecodable message, a
content type not in ``accept_content`` or an invalid task message (dead-lettered with
the reason), an unknown task name (dead-lettered, FAILURE ``NotRegistered`` stored)
and a task revoked before it arrived (REVOKED stored through the finisher, acked).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from celeriac import states
from celeriac.app.trace import LOG_RECEIVED, log_task
from celeriac.exceptions import ContentDisallowed, DecodeError, InvalidTaskError, NotRegistered
from celeriac.protocol.saferepr import saferepr
from celeriac.protocol.task_message import TaskMessage
from celeriac.transports.base import Delivery
from celeriac.worker.finisher import Finisher
from celeriac.worker.guard import Guard
from celeriac.worker.held import HeldDeliveries, ResultMeta
from celeriac.worker.job import Job, request_for
from celeriac.worker.observer import Guarded
from celeriac.worker.revoked import RevokedSet
from celeriac.worker.scheduling import revoked_outcome

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Intake"]

task_logger = logging.getLogger("celery.worker.strategy")


class Intake:
    """Decodes and checks each delivery; returns the jobs that may go on.

    Args:
        app: the app (registry, middleware, ``accept_content``).
        hostname: the worker's node name (the request's ``hostname``).
        held: the consumer's held deliveries (every delivery is held from here on).
        finisher: ends a job revoked on arrival.
        revoked: the consumer's revoked ids.
        observer: told of each job received.
    """

    def __init__(
        self,
        app: Celery,
        hostname: str,
        held: HeldDeliveries,
        finisher: Finisher,
        revoked: Callable[[], RevokedSet],
        observer: Guarded,
    ) -> None:
        self.app = app
        self.hostname = hostname
        self.held = held
        self.finisher = finisher
        self.revoked = revoked
        self.observer = observer
        #: signature, size and shape limits (issue 14); its ``accept`` is what decode takes
        self.guard = Guard.for_app(app, list(app.conf.accept_content or ["json"]))

    def take(self, delivery: Delivery) -> Job | None:
        """Hold ``delivery`` and return its job, or None when it was turned away."""
        self.held.hold(delivery)
        job = self._decode(delivery)
        if job is None:
            return None
        if self.revoked().revoked(job.call.id, job.request.stamps):
            self.finisher.finish_now(job, revoked_outcome())
            return None
        request = job.request
        log_task(
            task_logger,
            logging.INFO,
            LOG_RECEIVED,
            lambda: {
                "id": job.call.id,
                "name": job.call.shadow or job.call.name,
                "args": request.argsrepr or saferepr(request.args),
                "kwargs": request.kwargsrepr or saferepr(request.kwargs),
                "eta": request.eta,
            },
        )
        self.app.middleware.on_receive(job.task, job.request)
        self.observer.received(job)
        return job

    def _decode(self, delivery: Delivery) -> Job | None:
        if delivery.message is None:
            reason = f"undecodable message: {delivery.error}"
            self.held.reject(delivery, reason)
            self.app.middleware.on_rejected(None, reason, None)
            return None
        message, refused = self.guard.admit(delivery.message)
        if message is None:
            self._refuse(delivery, str(refused))
            return None
        try:
            call = self.guard.decode(message)
            refused = self.guard.check(call)
        except (ContentDisallowed, DecodeError, InvalidTaskError) as exc:
            kind = (
                "content type not accepted"
                if isinstance(exc, ContentDisallowed)
                else "invalid task message"
            )
            self.held.reject(delivery, f"{kind}: {exc}")
            self.app.middleware.on_rejected(delivery.message, f"{kind}: {exc}", exc)
            return None
        if refused is not None:
            self._refuse(delivery, refused)
            return None
        task = self.app.tasks.get(call.name)
        if task is None:
            self._unknown_task(delivery, call)
            return None
        return Job(delivery, call, task, request_for(call, delivery, self.hostname))

    def _refuse(self, delivery: Delivery, reason: str) -> None:
        self.held.reject(delivery, reason)
        self.app.middleware.on_rejected(delivery.message, reason, None)

    def _unknown_task(self, delivery: Delivery, call: TaskMessage) -> None:
        self.held.reject(delivery, f"unknown task {call.name!r} (not registered in this worker)")
        error = NotRegistered(call.name)
        if self.held.stores_results:
            meta = self.app.result_meta(call.id, states.FAILURE, error)
            self.held.store(ResultMeta(call.id, meta))
        if delivery.message is not None:
            self.app.middleware.on_unknown_task(call.name, call.id, delivery.message, error)
        self.observer.unknown_task(call, error)
