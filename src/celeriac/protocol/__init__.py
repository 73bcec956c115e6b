"""Celery's wire format, sans I/O: envelopes, task messages, serializers and result meta."""
