"""A project directory for in-process CLI tests: modules under unique names, one broker file."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from celeriac import Celery

__all__ = ["CLIProject", "Invoke"]

#: ``invoke(*args, input=None)``: run ``celeriac <args>`` in-process.
Invoke = Callable[..., Result]


class CLIProject:
    """Modules written into ``tmp_path`` (the working directory) under unique names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "broker.db"
        self.broker_url = f"sqlite:///{self.db}"
        self.apps: list[Celery] = []

    def module(self, source: str, name: str | None = None) -> str:
        """Write ``<name>.py`` (a fresh unique name by default); return the module name."""
        name = name or f"proj_{uuid.uuid4().hex[:8]}"
        path = self.root / f"{name.replace('.', '/')}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).format(broker=self.broker_url))
        return name

    def package(self, files: dict[str, str]) -> str:
        """Write a package ``{'__init__': src, 'celery': src}``; return its name."""
        name = f"pkg_{uuid.uuid4().hex[:8]}"
        for module, source in files.items():
            self.module(source, f"{name}.{module}")
        return name

    def tasks_module(self) -> str:
        """A module with ``app`` on the project's broker and a ``tasks.add`` task."""
        return self.module(
            """
            from celeriac import Celery

            app = Celery("tasks", broker={broker!r}, backend={broker!r})


            @app.task(name="tasks.add")
            def add(x, y):
                return x + y
            """
        )

    def app(self) -> Celery:
        """An app on the project's broker, to look at what the commands did."""
        app = Celery("inspect", broker=self.broker_url, backend=self.broker_url)
        self.apps.append(app)
        return app
