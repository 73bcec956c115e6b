"""Doorbell: wake idle consumers of a local file broker across processes (Unix datagrams)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable

from celeriac.utils.log import own_logger

__all__ = ["Doorbell", "ring", "doorbell_dir"]

logger = own_logger(__name__)

#: Seconds a publisher reuses its listing of the doorbell directory.
_LISTING_TTL = 0.5
_listings: dict[str, tuple[float, list[str]]] = {}
_listings_lock = threading.Lock()
_senders = threading.local()


def _sender() -> socket.socket:
    sock: socket.socket | None = getattr(_senders, "sock", None)
    if sock is None or getattr(_senders, "pid", None) != os.getpid():
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        _senders.sock, _senders.pid = sock, os.getpid()
    return sock


def doorbell_dir(key: str) -> str:
    """The directory holding the doorbells of one broker file (short: socket paths are capped)."""
    digest = hashlib.sha1(os.path.abspath(key).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"celeriac-{os.getuid()}-{digest}")


def _listing(directory: str) -> list[str]:
    now = time.monotonic()
    with _listings_lock:
        cached = _listings.get(directory)
        if cached is not None and now - cached[0] < _LISTING_TTL:
            return cached[1]
    try:
        names = [os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".bell")]
    except OSError:
        names = []
    with _listings_lock:
        _listings[directory] = (now, names)
    return names


def _forget(directory: str, path: str) -> None:
    with _listings_lock:
        cached = _listings.get(directory)
        if cached is not None and path in cached[1]:
            _listings[directory] = (cached[0], [p for p in cached[1] if p != path])


def ring(directory: str) -> None:
    """Wake every consumer waiting on ``directory`` (best effort, never blocks or raises)."""
    paths = _listing(directory)
    if not paths:
        return
    sender = _sender()
    for path in paths:
        try:
            sender.sendto(b"!", path)
        except BlockingIOError:
            continue  # its buffer is full: it has been rung already
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                _forget(directory, path)
                if exc.errno == errno.ECONNREFUSED:  # nobody bound: a dead consumer's bell
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                    with contextlib.suppress(OSError):
                        os.rmdir(directory)


class Doorbell:
    """A bound datagram socket in ``directory``; ``on_ring`` runs (on its thread) when rung.

    Rings that arrive together are drained and reported once.
    """

    def __init__(self, directory: str, on_ring: Callable[[], None]) -> None:
        self.path = os.path.join(directory, f"{os.getpid()}-{uuid.uuid4().hex[:8]}.bell")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for attempt in range(3):
            os.makedirs(directory, mode=0o700, exist_ok=True)
            try:
                self._sock.bind(self.path)
                break
            except FileNotFoundError:  # a publisher removed the empty directory meanwhile
                if attempt == 2:
                    self._sock.close()
                    raise
        self._on_ring = on_ring
        self._closed = False
        self._thread = threading.Thread(target=self._listen, name="celeriac-doorbell", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._closed:
            try:
                self._sock.recv(64)
                self._sock.setblocking(False)
                try:
                    while True:
                        self._sock.recv(64)
                except BlockingIOError:
                    pass
                finally:
                    self._sock.setblocking(True)
            except OSError:
                return
            if not self._closed:
                try:
                    self._on_ring()
                except Exception as exc:
                    logger.debug("doorbell callback failed: %r", exc)

    def close(self) -> None:
        """Unbind and stop listening."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):  # the last consumer of this file leaves no litter
            os.rmdir(os.path.dirname(self.path))
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
