"""Typed middleware: ordered hooks around publishing and executing tasks."""

from celeriac.middleware.base import Middleware
from celeriac.middleware.stack import MiddlewareStack

__all__ = ["Middleware", "MiddlewareStack"]
