"""Celery's ``celery.utils.text``: formatting helpers for console and log text."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pprint import pformat
from textwrap import fill
from typing import Any

__all__ = [
    "abbr",
    "abbrtask",
    "dedent",
    "dedent_initial",
    "ensure_newlines",
    "ensure_sep",
    "fill_paragraphs",
    "indent",
    "join",
    "pluralize",
    "pretty",
    "simple_format",
    "str_to_list",
    "truncate",
]

#: ``%x`` placeholders :func:`simple_format` expands.
RE_FORMAT = re.compile(r"%([%\w])")


def str_to_list(s: str | list[str]) -> list[str]:
    """``'a,b'`` → ``['a', 'b']``; a list is returned as it is."""
    return s.split(",") if isinstance(s, str) else s


def dedent_initial(s: str, n: int = 4) -> str:
    """``s`` without the first ``n`` spaces, when it starts with them."""
    return s[n:] if s[:n] == " " * n else s


def dedent(s: str, sep: str = "\n") -> str:
    """Each line without its first four spaces of indentation."""
    return sep.join(dedent_initial(line) for line in s.splitlines())


def fill_paragraphs(s: str, width: int, sep: str = "\n") -> str:
    """Wrap each paragraph (separated by ``sep``) at ``width`` columns."""
    return sep.join(fill(p, width) for p in s.split(sep))


def join(items: Iterable[str], sep: str = "\n") -> str:
    """The non-empty strings of ``items`` joined by ``sep``."""
    return sep.join(v for v in items if v)


def ensure_sep(sep: str, s: str, n: int = 2) -> str:
    """``s`` followed by enough ``sep`` to hold ``n`` of them."""
    return s + sep * (n - s.count(sep))


#: ``ensure_sep('\n', s, n)``.
ensure_newlines = partial(ensure_sep, "\n")


def abbr(S: str | None, max: int, ellipsis: str | bool = "...") -> str:
    """``S`` cut to ``max`` characters, ending in ``ellipsis`` (False: none); None → ``???``."""
    if S is None:
        return "???"
    if len(S) > max:
        if isinstance(ellipsis, str) and ellipsis:
            return S[: max - len(ellipsis)] + ellipsis
        return S[:max]
    return S


def abbrtask(S: str | None, max: int) -> str:
    """A task name cut to ``max`` characters, shortening the module (``a.b[.]add``)."""
    if S is None:
        return "???"
    if len(S) > max:
        module, _, cls = S.rpartition(".")
        return abbr(module, max - len(cls) - 3, False) + "[.]" + cls
    return S


def indent(t: str, indent: int = 0, sep: str = "\n") -> str:
    """Each line of ``t`` indented by ``indent`` spaces."""
    return sep.join(" " * indent + p for p in t.split(sep))


def truncate(s: str, maxlen: int = 128, suffix: str = "...") -> str:
    """``s`` cut at a word boundary before ``maxlen`` characters, plus ``suffix``."""
    if maxlen and len(s) >= maxlen:
        return s[:maxlen].rsplit(" ", 1)[0] + suffix
    return s


def pluralize(n: float, text: str, suffix: str = "s") -> str:
    """``text`` with ``suffix`` unless ``n`` is one."""
    return text + suffix if n != 1 else text


def pretty(value: Any, width: int = 80, nl_width: int = 80, sep: str = "\n", **kw: Any) -> str:
    """``value`` pretty-printed for the console (dicts and tuples on their own lines)."""
    if isinstance(value, dict):
        return f"{sep} {pformat(value, 4, nl_width)[1:]}"
    if isinstance(value, tuple):
        return f"{sep}{' ' * 4}{pformat(value, width=nl_width, **kw)}"
    return pformat(value, width=width, **kw)


def simple_format(
    s: str,
    keys: Mapping[str, str | Callable[[], str]],
    pattern: re.Pattern[str] = RE_FORMAT,
    expand: str = r"\1",
) -> str:
    """Expand ``%x`` placeholders from ``keys`` (a callable value is called; ``%%`` → ``%``).

    Raises:
        ValueError: a placeholder has no key.
    """
    if not s:
        return s
    table = {"%": "%", **keys}

    def resolve(match: re.Match[str]) -> str:
        key = match.expand(expand)
        try:
            resolver = table[key]
        except KeyError:
            raise ValueError(f"Unknown format %{key} in string {s!r}") from None
        return resolver() if callable(resolver) else resolver

    return pattern.sub(resolve, s)
