"""``app.Beat``: beat bound to an app, from Celery's keyword arguments (``celery.apps.beat``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac.beat.service import Beat as BeatService

if TYPE_CHECKING:
    from celeriac.app.base import Celery

__all__ = ["Beat", "bound_beat"]


class Beat:
    """``Beat(app, scheduler=..., schedule=..., max_interval=...).run()`` runs beat here."""

    def __init__(
        self,
        app: Celery,
        max_interval: float | None = None,
        scheduler: str | None = None,
        scheduler_cls: str | None = None,
        schedule: str | None = None,
        loglevel: str | None = None,
        logfile: str | None = None,
        pidfile: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.max_interval = max_interval
        self.scheduler = scheduler or scheduler_cls
        self.schedule = schedule
        self.loglevel = loglevel or "WARNING"
        self.logfile = logfile
        self.pidfile = pidfile
        self.service: BeatService | None = None

    def run(self) -> None:
        """Set up logging and run beat until it is stopped."""
        self.app.log.setup(self.loglevel, self.logfile)
        self.app.finalize()
        self.service = BeatService(
            self.app,
            scheduler=self.scheduler,
            schedule_filename=self.schedule,
            max_interval=self.max_interval,
        )
        self.service.run()

    def stop(self) -> None:
        """Ask a running :meth:`run` to return."""
        if self.service is not None:
            self.service.stop()


def bound_beat(app: Celery) -> type[Beat]:
    """``Beat`` with ``app`` filled in (what ``app.Beat`` returns)."""

    class BoundBeat(Beat):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.pop("app", None)
            super().__init__(app, **kwargs)

    BoundBeat.__name__ = BoundBeat.__qualname__ = "Beat"
    return BoundBeat
