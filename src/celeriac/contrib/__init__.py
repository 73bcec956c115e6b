"""Integrations: testing helpers and the pytest plugin (Django arrives with its issue)."""
