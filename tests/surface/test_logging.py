"""Logging as Celery sets it up: the signals, the formats, the root logger and task loggers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, signals
from celeriac.app.log import Logging, TaskFormatter
from celeriac.utils.log import ColorFormatter, LoggingProxy, get_task_logger, mlevel
from helpers.processes import Project, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """Put the root and task loggers and the set-up flag back after the test."""
    root = logging.getLogger()
    task = logging.getLogger("celery.task")
    saved = (list(root.handlers), root.level, list(task.handlers), task.level, task.propagate)
    Logging._setup = False
    yield
    Logging._setup = False
    root.handlers, root.level = saved[0], saved[1]
    task.handlers, task.level, task.propagate = saved[2], saved[3], saved[4]


def test_setup_sends_signals_and_formats_task_lines(clean_logging: None, tmp_path: Path) -> None:
    app = Celery("logs", broker="memory://", backend="memory://", set_as_current=False)
    app.conf.worker_task_log_format = "TASK %(task_name)s %(task_id)s %(message)s"
    app.conf.worker_log_format = "ROOT %(levelname)s %(message)s"
    seen: list[tuple[str, Any]] = []

    def after_root(logger: logging.Logger, loglevel: int, **kwargs: Any) -> None:
        seen.append(("root", (logger is logging.getLogger(), loglevel, kwargs["format"])))

    def after_task(logger: logging.Logger, loglevel: int, **kwargs: Any) -> None:
        seen.append(("task", (logger.name, loglevel, kwargs["format"])))

    signals.after_setup_logger.connect(after_root)
    signals.after_setup_task_logger.connect(after_task)
    try:
        logfile = tmp_path / "worker.log"
        handled = app.log.setup("INFO", logfile)
    finally:
        signals.after_setup_logger.disconnect(after_root)
        signals.after_setup_task_logger.disconnect(after_task)
    assert handled is False
    assert seen == [
        ("root", (True, logging.INFO, "ROOT %(levelname)s %(message)s")),
        ("task", ("celery.task", logging.INFO, app.conf.worker_task_log_format)),
    ]
    logger = get_task_logger("proj.tasks")

    @app.task(name="proj.tasks.say")
    def say() -> None:
        logger.info("from the task")

    say.apply(task_id="abc-1")
    logging.getLogger("celery.worker").info("plain line")
    for handler in logging.getLogger().handlers + logging.getLogger("celery.task").handlers:
        handler.flush()
    lines = logfile.read_text().splitlines()
    assert "TASK proj.tasks.say abc-1 from the task" in lines
    assert "ROOT INFO plain line" in lines
    # once per process: a second set-up changes nothing
    assert app.log.setup("DEBUG") is False and logging.getLogger().level == logging.INFO


def test_setup_logging_receiver_takes_over(clean_logging: None) -> None:
    app = Celery("logs", broker="memory://", set_as_current=False)
    calls: list[dict[str, Any]] = []

    def mine(**kwargs: Any) -> None:
        calls.append(kwargs)

    root_before = list(logging.getLogger().handlers)
    signals.setup_logging.connect(mine)
    try:
        assert app.log.setup("WARNING", None) is True
    finally:
        signals.setup_logging.disconnect(mine)
    assert calls and calls[0]["loglevel"] == logging.WARNING
    assert set(calls[0]) >= {"loglevel", "logfile", "format", "colorize", "signal", "sender"}
    assert logging.getLogger().handlers == root_before


@pytest.mark.parametrize(
    ("template", "expected"),
    [("%%%%n-%n.log", "%n-worker.log"), ("50%%%%d.log", "50%d.log"), ("%%%%i-%i.log", "%i-0.log")],
)
def test_multi_node_logfile_escapes_reach_the_file(
    clean_logging: None, tmp_path: Path, template: str, expected: str
) -> None:
    """``multi`` expands once (``%%%%`` -> ``%%``), the logging set-up once more (``%%`` ->
    ``%``, ``%i`` -> 0 in the main process), as Celery's two steps do."""
    from celeriac.apps.multi import Node

    node = Node("worker@example.com", options={"--logfile": str(tmp_path / template)})
    logfile = next(a.partition("=")[2] for a in node.argv if a.startswith("--logfile="))
    app = Celery("logs", broker="memory://", set_as_current=False)
    root = logging.getLogger()
    before = list(root.handlers)
    app.log.setup_logging_subsystem(
        loglevel="INFO", logfile=logfile, hostname="worker@example.com", colorize=False
    )
    logging.getLogger("percent").info("reached")
    for handler in set(root.handlers) - set(before):
        handler.close()
    assert "reached" in (tmp_path / expected).read_text()


def test_hijack_off_keeps_the_projects_root_handler(clean_logging: None) -> None:
    app = Celery("logs", broker="memory://", set_as_current=False)
    app.conf.worker_hijack_root_logger = False
    mine = logging.NullHandler()
    mine.name = "project"
    logging.getLogger().handlers = [logging.StreamHandler()]
    logging.getLogger().handlers[0].name = "project"
    app.log.setup("INFO")
    assert [h.name for h in logging.getLogger().handlers] == ["project"]
    app2 = Celery("logs2", broker="memory://", set_as_current=False)
    Logging._setup = False
    app2.log.setup("INFO")  # hijack on (the default): the project's handler is replaced
    assert [h.name for h in logging.getLogger().handlers] != ["project"]


def test_formatters_and_proxy() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %s", ("!",), None)
    assert ColorFormatter("%(message)s", use_color=True).format(record) == "\033[31mboom !\033[0m"
    assert ColorFormatter("%(message)s", use_color=False).format(record) == "boom !"
    outside = TaskFormatter("%(task_name)s %(task_id)s %(message)s", use_color=False)
    assert outside.format(record) == "??? ??? boom !"
    assert mlevel("info") == logging.INFO and mlevel(10) == 10
    caught: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record.getMessage())

    target = logging.getLogger("tests.proxy")
    target.addHandler(Keep())
    proxy = LoggingProxy(target, "WARNING")
    print("printed line", file=proxy)  # type: ignore[arg-type]
    assert caught == ["printed line"]


def test_worker_log_lines_reach_a_projects_setup_logging_handler(tmp_path: Path) -> None:
    body = """
    import logging
    from celeriac.signals import setup_logging
    from celeriac.utils.log import get_task_logger

    task_logger = get_task_logger(__name__)

    @setup_logging.connect
    def project_logging(loglevel, logfile, format, colorize, **kwargs):
        handler = logging.FileHandler(os.path.join(os.path.dirname(__file__), "mine.log"))
        handler.setFormatter(logging.Formatter("MINE %(name)s %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)

    @app.task
    def talk():
        task_logger.info("task says hi")
        return 1
    """
    with Project(tmp_path, body) as project:
        worker = project.start_worker(pool="solo", wait=False)
        mine = project.path("mine.log")
        wait_until(lambda: mine.exists() and "ready." in mine.read_text(), timeout=20)
        producer = project.producer()
        assert producer.send_task("tasks.talk").get(timeout=20) == 1
        wait_until(lambda: "task says hi" in mine.read_text(), timeout=10)
        assert not worker.log()  # celeriac configured nothing: its --logfile stays empty


def test_worker_task_lines_are_celerys_records_with_data(caplog: pytest.LogCaptureFixture) -> None:
    """A Django ``LOGGING`` or a log filter written for Celery sees celeriac's worker lines
    under Celery's logger names, with Celery's formats and the ``data`` dict."""
    from celeriac.app.trace import LOG_RECEIVED, LOG_SUCCESS
    from celeriac.contrib.testing import start_worker

    app = Celery("logdata", broker="memory://", backend="memory://", set_as_current=False)

    @app.task(name="logdata.add")
    def add(x: int, y: int) -> int:
        return x + y

    caplog.set_level(logging.INFO, logger="celery")
    with start_worker(app, pool="threads", perform_ping_check=False):
        result = add.apply_async((2, 2), argsrepr="(secret)")
        assert result.get(timeout=10) == 4
    wait_until(
        lambda: any(r.msg == LOG_SUCCESS for r in caplog.records), timeout=5, message="no success"
    )
    mine = [r for r in caplog.records if getattr(r, "data", {}).get("id") == result.id]
    by_msg = {r.msg: r for r in mine}
    received, succeeded = by_msg[LOG_RECEIVED], by_msg[LOG_SUCCESS]
    assert received.name == "celery.worker.strategy" and received.levelno == logging.INFO
    assert succeeded.name == "celery.app.trace" and succeeded.levelno == logging.INFO
    assert received.data["args"] == succeeded.data["args"] == "(secret)"
    assert succeeded.data["return_value"] == "4" and succeeded.data["name"] == "logdata.add"
    assert succeeded.getMessage().startswith(f"Task logdata.add[{result.id}] succeeded in ")
    assert logging.getLogger("celeriac.worker").parent.name == "root"  # nothing logs there
