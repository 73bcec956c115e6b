"""Celery's ``celery.utils.term``: ANSI-coloured terminal text (``colored().red('x')``)."""

from __future__ import annotations

import platform
from functools import reduce
from typing import Any

__all__ = ["colored"]

BLACK, RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN, WHITE = range(8)
OP_SEQ = "\033[%dm"
RESET_SEQ = "\033[0m"
COLOR_SEQ = "\033[1;%dm"
IS_WINDOWS = platform.system() == "Windows"


def fg(s: int) -> str:
    """The escape sequence selecting colour ``s`` (30-37 foreground, 40-47 background)."""
    return COLOR_SEQ % s


def _text(part: object) -> str:
    return part.no_color() if isinstance(part, colored) else str(part)


class colored:
    """Coloured text: ``str(colored().red('a ', colored().bold('b')))`` has the ANSI
    sequences (none when ``enabled=False``); ``no_color()`` is the plain text."""

    def __init__(self, *s: object, **kwargs: Any) -> None:
        self.s: tuple[object, ...] = s
        self.enabled: bool = not IS_WINDOWS and kwargs.get("enabled", True)
        self.op: str = kwargs.get("op", "")
        self.names = {name: getattr(self, name) for name in _COLOURS}

    def no_color(self) -> str:
        """The text without escape sequences."""
        return "".join(_text(part) for part in self.s)

    def embed(self) -> str:
        """The text with this node's sequence in front, without the final reset."""
        prefix = self.op if self.enabled else ""
        return prefix + str(reduce(lambda a, b: f"{a}{b}", self.s, ""))

    def __str__(self) -> str:
        return self.embed() + (RESET_SEQ if self.enabled else "")

    def __repr__(self) -> str:
        return repr(self.no_color())

    def __add__(self, other: object) -> str:
        return f"{self}{other}"

    def node(self, s: tuple[object, ...], op: str) -> colored:
        """A child node of ``s`` with the escape sequence ``op``."""
        return type(self)(*s, enabled=self.enabled, op=op)

    def reset(self, *s: object) -> colored:
        """``s`` after a reset sequence."""
        return self.node(s or ("",), RESET_SEQ)

    def black(self, *s: object) -> colored:
        """``s`` in black."""
        return self.node(s, fg(30 + BLACK))

    def red(self, *s: object) -> colored:
        """``s`` in red."""
        return self.node(s, fg(30 + RED))

    def green(self, *s: object) -> colored:
        """``s`` in green."""
        return self.node(s, fg(30 + GREEN))

    def yellow(self, *s: object) -> colored:
        """``s`` in yellow."""
        return self.node(s, fg(30 + YELLOW))

    def blue(self, *s: object) -> colored:
        """``s`` in blue."""
        return self.node(s, fg(30 + BLUE))

    def magenta(self, *s: object) -> colored:
        """``s`` in magenta."""
        return self.node(s, fg(30 + MAGENTA))

    def cyan(self, *s: object) -> colored:
        """``s`` in cyan."""
        return self.node(s, fg(30 + CYAN))

    def white(self, *s: object) -> colored:
        """``s`` in white."""
        return self.node(s, fg(30 + WHITE))

    def bold(self, *s: object) -> colored:
        """``s`` in bold."""
        return self.node(s, OP_SEQ % 1)

    def underline(self, *s: object) -> colored:
        """``s`` underlined."""
        return self.node(s, OP_SEQ % 4)

    def blink(self, *s: object) -> colored:
        """``s`` blinking."""
        return self.node(s, OP_SEQ % 5)

    def reverse(self, *s: object) -> colored:
        """``s`` in reverse video."""
        return self.node(s, OP_SEQ % 7)

    def bright(self, *s: object) -> colored:
        """``s`` bright."""
        return self.node(s, OP_SEQ % 8)

    def ired(self, *s: object) -> colored:
        """``s`` on red."""
        return self.node(s, fg(40 + RED))

    def igreen(self, *s: object) -> colored:
        """``s`` on green."""
        return self.node(s, fg(40 + GREEN))

    def iyellow(self, *s: object) -> colored:
        """``s`` on yellow."""
        return self.node(s, fg(40 + YELLOW))

    def iblue(self, *s: object) -> colored:
        """``s`` on blue."""
        return self.node(s, fg(40 + BLUE))

    def imagenta(self, *s: object) -> colored:
        """``s`` on magenta."""
        return self.node(s, fg(40 + MAGENTA))

    def icyan(self, *s: object) -> colored:
        """``s`` on cyan."""
        return self.node(s, fg(40 + CYAN))

    def iwhite(self, *s: object) -> colored:
        """``s`` on white."""
        return self.node(s, fg(40 + WHITE))


_COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
