"""OpenTelemetry: a producer span and a consumer span per task, in one trace, also when the
producer is real Celery instrumented by opentelemetry-instrumentation-celery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from celeriac.contrib.otel import instrument, uninstrument
from helpers.services import AppFactory, WorkerFactory, redis_keyspace

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _wait_spans(exporter: InMemorySpanExporter, count: int) -> list[Any]:
    deadline = time.monotonic() + 10
    while len(exporter.get_finished_spans()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(exporter.get_finished_spans())


def test_a_task_sent_and_run_is_one_trace(
    make_app: AppFactory, worker: WorkerFactory, spans: Any
) -> None:
    provider, exporter = spans
    app = make_app()

    @app.task(name="otel.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="otel.fail")
    def fail() -> None:
        raise ValueError("traced")

    instrument(app, tracer_provider=provider)
    try:
        worker(app)
        result = add.delay(2, 3)
        assert result.get(timeout=10) == 5
        with pytest.raises(ValueError):
            fail.delay().get(timeout=10)
        found = _wait_spans(exporter, 4)
    finally:
        uninstrument(app)
    by_name = {span.name: span for span in found}
    sent, run = by_name["apply_async/otel.add"], by_name["run/otel.add"]
    assert sent.kind is SpanKind.PRODUCER and run.kind is SpanKind.CONSUMER
    assert run.context.trace_id == sent.context.trace_id
    assert run.parent is not None and run.parent.span_id == sent.context.span_id
    assert run.attributes["messaging.message.id"] == result.id
    assert run.attributes["celery.state"] == "SUCCESS"
    assert sent.attributes["messaging.destination.name"] == "celery"
    failed = by_name["run/otel.fail"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["celery.state"] == "FAILURE"
    assert any(event.name == "exception" for event in failed.events)


def test_a_celery_producers_trace_continues_in_a_celeriac_worker(spans: Any) -> None:
    celery = pytest.importorskip("celery")
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.celery")
    from celeriac import Celery
    from celeriac.contrib.testing import start_worker

    provider, exporter = spans
    with redis_keyspace("otel") as space:
        ours = Celery("otel", broker=space.url, backend=space.url, **space.settings)

        @ours.task(name="otel.mul")
        def mul(x: int, y: int) -> int:
            return x * y

        theirs = celery.Celery("otel", broker=space.url, backend=space.url, set_as_current=False)
        theirs.conf.broker_transport_options = {"global_keyprefix": space.prefix}
        theirs.conf.result_backend_transport_options = {"global_keyprefix": space.prefix}
        instrumentor = instrumentation.CeleryInstrumentor()
        instrumentor.instrument(tracer_provider=provider)
        instrument(ours, tracer_provider=provider)
        try:
            with start_worker(ours):
                result = theirs.send_task("otel.mul", (6, 7))
                assert result.get(timeout=10) == 42
                found = _wait_spans(exporter, 2)
        finally:
            instrumentor.uninstrument()
            uninstrument(ours)
            ours.close()
    by_name = {span.name: span for span in found}
    sent, run = by_name["apply_async/otel.mul"], by_name["run/otel.mul"]
    assert run.context.trace_id == sent.context.trace_id
    assert run.parent is not None and run.parent.span_id == sent.context.span_id


def test_a_celeriac_producers_trace_continues_in_a_celery_worker(spans: Any) -> None:
    celery = pytest.importorskip("celery")
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.celery")
    from celery.contrib.testing.worker import start_worker as start_celery_worker

    from celeriac import Celery

    provider, exporter = spans
    with redis_keyspace("otel") as space:
        ours = Celery("otel", broker=space.url, backend=space.url, **space.settings)
        theirs = celery.Celery("otel", broker=space.url, backend=space.url, set_as_current=False)
        theirs.conf.broker_transport_options = {"global_keyprefix": space.prefix}
        theirs.conf.result_backend_transport_options = {"global_keyprefix": space.prefix}

        @theirs.task(name="otel.sub")
        def sub(x: int, y: int) -> int:
            return x - y

        instrumentor = instrumentation.CeleryInstrumentor()
        instrumentor.instrument(tracer_provider=provider)
        instrument(ours, tracer_provider=provider)
        try:
            with start_celery_worker(theirs, pool="solo", perform_ping_check=False):
                result = ours.send_task("otel.sub", (9, 4))
                assert result.get(timeout=10) == 5
                found = _wait_spans(exporter, 2)
        finally:
            instrumentor.uninstrument()
            uninstrument(ours)
            ours.close()
    by_name = {span.name: span for span in found}
    sent, run = by_name["apply_async/otel.sub"], by_name["run/otel.sub"]
    assert run.context.trace_id == sent.context.trace_id
    assert run.parent is not None and run.parent.span_id == sent.context.span_id
