"""The Celery first-steps tutorial's tasks module, with ``celery`` replaced by ``celeriac``."""

from celeriac import Celery

app = Celery("tasks")  # no broker given: the embedded SQLite file in the working directory


@app.task
def add(x, y):
    return x + y
