"""The application layer: the Celery class, tasks, routing and the current-app context."""
