"""With celeriac's app on the same database: migrate, load the rows with the scheduler."""

import io
import json

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from celeriac import Celery  # noqa: E402
from celeriac.beat.stores import MemoryStore  # noqa: E402
from celeriac.contrib.django.beat.scheduler import DatabaseScheduler  # noqa: E402

out = io.StringIO()
call_command("migrate", verbosity=1, stdout=out)
applied = [
    line.split()[1].rstrip(".") for line in out.getvalue().splitlines() if "Applying" in line
]
app = Celery("interop", broker="memory://interop", backend="memory://")
scheduler = DatabaseScheduler(app, stores=[MemoryStore()])
scheduler.setup_schedule()
entries = {
    name: {
        "task": entry.task,
        "schedule": repr(entry.schedule),
        "args": list(entry.args),
        "kwargs": dict(entry.kwargs),
        "options": dict(entry.options),
    }
    for name, entry in scheduler.schedule.items()
}
print(json.dumps({"applied": applied, "entries": entries}))
