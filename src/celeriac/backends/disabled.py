"""The ``disabled`` result backend: nothing is stored, and reading a result says why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NoReturn

from celeriac.backends.base import Backend
from celeriac.exceptions import ImproperlyConfigured

__all__ = ["DisabledBackend"]

_MESSAGE = "No result backend is configured; set result_backend (or backend=) to use results"


def _refuse() -> NoReturn:
    raise ImproperlyConfigured(_MESSAGE)


class DisabledBackend(Backend):
    """Used when no result backend is configured: storing is a no-op, reading raises.

    Raises:
        ImproperlyConfigured: from every method that reads or deletes a result.
    """

    schemes = ("disabled",)
    stores_results = False

    def store_many(self, items: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Do nothing: results are not kept."""

    def get(self, task_id: str) -> NoReturn:
        """Refuse: there is nowhere to read from."""
        _refuse()

    def forget(self, task_id: str) -> None:
        """Refuse: there is nowhere to delete from."""
        _refuse()

    def save_group(self, group_id: str, meta: Mapping[str, object]) -> None:
        """Refuse: group results need a backend."""
        _refuse()

    def get_group(self, group_id: str) -> NoReturn:
        """Refuse: there is nowhere to read from."""
        _refuse()

    def forget_group(self, group_id: str) -> None:
        """Refuse: there is nowhere to delete from."""
        _refuse()

    def wait_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> NoReturn:
        """Refuse at once instead of waiting for a result that never comes."""
        _refuse()

    async def await_for(
        self, task_id: str, timeout: float | None = None, interval: float = 0.5
    ) -> NoReturn:
        """Refuse at once instead of waiting for a result that never comes."""
        _refuse()
