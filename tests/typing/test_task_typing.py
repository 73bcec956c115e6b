"""Static typing of tasks and results, checked by ``mypy tests/typing`` (strict), not run.

``Task[P, R]`` carries the function's parameters and return type, so ``delay`` checks
its arguments and ``AsyncResult[R].get()`` returns ``R``. The ``type: ignore[...]``
comments below are required: with ``warn_unused_ignores`` (part of strict) mypy fails
if the line they guard stops being an error.
"""

from __future__ import annotations

from typing import assert_type

from celeriac import AsyncResult, Celery, shared_task

app = Celery("typing_checks", broker="memory://", backend="memory://")


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
async def fetch(url: str) -> bytes:
    return url.encode()


@shared_task
def shout(text: str) -> str:
    return text.upper()


def check_sync_task() -> None:
    assert_type(add.delay(1, 2), AsyncResult[int])
    assert_type(add.delay(1, 2).get(), int)
    assert_type(add.delay(1, y=2).get(timeout=10), int)
    assert_type(add.apply_async((1, 2), countdown=3), AsyncResult[int])
    assert_type(add(1, 2), int)
    add.delay("x", 2)  # type: ignore[arg-type]
    add.delay(1)  # type: ignore[call-arg]
    add.delay(1, 2, 3)  # type: ignore[call-arg]
    text: str = add.delay(1, 2).get()  # type: ignore[assignment]
    del text


def check_async_task() -> None:
    # The result of an ``async def`` task is the awaited value, not a coroutine.
    assert_type(fetch.delay("https://example.com"), AsyncResult[bytes])
    assert_type(fetch.delay("https://example.com").get(), bytes)
    fetch.delay(42)  # type: ignore[arg-type]


async def check_async_producer() -> None:
    result = await add.adelay(1, 2)
    assert_type(result, AsyncResult[int])
    assert_type(await result.aget(), int)
    await add.adelay("x", 2)  # type: ignore[arg-type]


def check_shared_task() -> None:
    assert_type(shout.delay("hi").get(), str)
    shout.delay(1)  # type: ignore[arg-type]
