"""Who may look and who may act: basic auth users, bearer tokens, read-only users, CSRF.

Every request passes :class:`AuthMiddleware`. With no user and no token configured
everyone is a writer (the dashboard then binds only to loopback, see
:func:`check_bind`). Otherwise a request without valid credentials gets 401 (and the
browser's login prompt); a read-only user may read everything but gets 403 on any
action. ``/metrics`` needs the same credentials unless ``metrics_public``.

CSRF: a browser attaches basic-auth credentials and cookies to requests a hostile page
makes, so every state-changing request that comes from a browser (it carries an
``Origin``, a ``Sec-Fetch-Site`` or a ``Cookie`` header) must echo the ``celeriac_csrf``
cookie in an ``X-CSRF-Token`` header, and its ``Origin``, when sent, must be this
dashboard's. Scripts (curl, requests) and bearer tokens, which no browser adds on its
own, need no token.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Final

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from celeriac.exceptions import ImproperlyConfigured

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "AuthConfig",
    "AuthMiddleware",
    "check_bind",
    "new_csrf_token",
]

CSRF_COOKIE: Final = "celeriac_csrf"
CSRF_HEADER: Final = "x-csrf-token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_PUBLIC_PATHS: Final = frozenset({"/healthz"})


def new_csrf_token() -> str:
    """A fresh random CSRF token."""
    return secrets.token_urlsafe(24)


def _pair(text: str, option: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ImproperlyConfigured(f"{option} wants user:password, got {text!r}")
    return user, password


@dataclass(slots=True)
class AuthConfig:
    """Credentials: ``users`` maps a name to ``(password, may_act)``; ``tokens`` likewise."""

    users: dict[str, tuple[str, bool]] = field(default_factory=dict)
    tokens: dict[str, bool] = field(default_factory=dict)
    metrics_public: bool = False

    @classmethod
    def from_options(
        cls,
        basic_auth: tuple[str, ...] = (),
        read_only: tuple[str, ...] = (),
        tokens: tuple[str, ...] = (),
        read_only_tokens: tuple[str, ...] = (),
        metrics_public: bool = False,
    ) -> AuthConfig:
        """Build from the command line's ``--basic-auth``, ``--read-only-auth``, ``--token``...

        Raises:
            ImproperlyConfigured: a pair is not ``user:password``.
        """
        config = cls(metrics_public=metrics_public)
        for text in basic_auth:
            user, password = _pair(text, "--basic-auth")
            config.users[user] = (password, True)
        for text in read_only:
            user, password = _pair(text, "--read-only-auth")
            config.users[user] = (password, False)
        config.tokens.update(dict.fromkeys(tokens, True))
        config.tokens.update(dict.fromkeys(read_only_tokens, False))
        return config

    @property
    def enabled(self) -> bool:
        """True when any credential is configured."""
        return bool(self.users or self.tokens)

    def role(self, authorization: str | None) -> str | None:
        """``writer``, ``reader``, or None for missing or wrong credentials."""
        if not self.enabled:
            return "writer"
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            for token, writer in self.tokens.items():
                if hmac.compare_digest(token.encode(), value.strip().encode()):
                    return "writer" if writer else "reader"
            return None
        if scheme != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.users.get(user)
        if expected is None or not hmac.compare_digest(expected[0].encode(), password.encode()):
            return None
        return "writer" if expected[1] else "reader"


def check_bind(address: str, auth: AuthConfig, insecure: bool) -> None:
    """Refuse a non-loopback address without credentials unless ``insecure``.

    Raises:
        ImproperlyConfigured: the address is public and nothing protects it.
    """
    if auth.enabled or insecure:
        return
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = address == "localhost"
    if not loopback:
        raise ImproperlyConfigured(
            f"refusing to serve the dashboard on {address} without authentication: "
            "give --basic-auth user:password or --token, or --insecure to allow it"
        )


def _csrf_ok(headers: Headers, scheme: str) -> bool:
    if scheme == "bearer":
        return True
    browser = "origin" in headers or "sec-fetch-site" in headers or "cookie" in headers
    if not browser:
        return True
    origin = headers.get("origin")
    if origin is not None:
        host = headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            return False
    cookies = SimpleCookie(headers.get("cookie", ""))
    cookie = cookies.get(CSRF_COOKIE)
    sent = headers.get(CSRF_HEADER, "")
    return cookie is not None and bool(sent) and hmac.compare_digest(cookie.value, sent)


class AuthMiddleware:
    """ASGI middleware: authenticate, set ``scope["state"]["role"]``, guard actions."""

    def __init__(self, app: ASGIApp, config: AuthConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = Headers(scope=scope)
        public = path in _PUBLIC_PATHS or (path == "/metrics" and self.config.metrics_public)
        authorization = headers.get("authorization")
        role = "reader" if public else self.config.role(authorization)
        if not public and role is None:
            response = PlainTextResponse(
                "authentication required",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="celeriac dashboard"'},
            )
            await response(scope, receive, send)
            return
        if scope["method"] not in _SAFE_METHODS:
            scheme = (authorization or "").partition(" ")[0].lower()
            if role != "writer":
                await JSONResponse({"error": "this user may not act (read-only)"}, 403)(
                    scope, receive, send
                )
                return
            if not _csrf_ok(headers, scheme):
                await JSONResponse(
                    {"error": "CSRF check failed: send the celeriac_csrf cookie's value "
                     "in an X-CSRF-Token header, from this dashboard's origin"},
                    403,
                )(scope, receive, send)  # fmt: skip
                return
        scope.setdefault("state", {})["role"] = role
        await self.app(scope, receive, send)
