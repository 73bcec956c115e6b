"""Test helpers under Celery's paths (``celery.contrib.testing``).

``worker.start_worker`` runs a worker on a thread of the test process, ``app.TestApp``
makes an app configured for tests, ``manager.Manager`` waits for tasks and workers,
``mocks`` builds task messages, ``tasks.ping`` checks a worker answers.
"""

from celeriac.contrib.testing.worker import TestWorkController, start_worker

__all__ = ["TestWorkController", "start_worker"]
