"""The dashboard: task history, a JSON API, live pages and Prometheus metrics.

Needs the ``dashboard`` extra (starlette, uvicorn, prometheus-client). Started by
``celeriac -A proj dashboard``; embed it with :func:`celeriac.dashboard.server.create_app`.
"""
