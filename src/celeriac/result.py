"""Celery's ``celery.result`` import path."""

from celeriac.results.result import (
    AsyncResult,
    EagerResult,
    GroupResult,
    ResultSet,
    result_from_tuple,
)

__all__ = ["AsyncResult", "EagerResult", "GroupResult", "ResultSet", "result_from_tuple"]
