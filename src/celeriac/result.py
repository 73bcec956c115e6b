"""Celery's ``celery.result`` import path."""

from celeriac.results.extras import ResultBase, allow_join_result, denied_join_result
from celeriac.results.result import (
    AsyncResult,
    EagerResult,
    GroupResult,
    ResultSet,
    result_from_tuple,
)

__all__ = [
    "AsyncResult",
    "EagerResult",
    "GroupResult",
    "ResultBase",
    "ResultSet",
    "allow_join_result",
    "denied_join_result",
    "result_from_tuple",
]
