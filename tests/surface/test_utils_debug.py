"""Celery's ``celery.utils.debug``: memory samples, thread stacks, blocking detection."""

from __future__ import annotations

import io
import threading
import time

import pytest

from celeriac.utils import debug


@pytest.mark.parametrize("value", [0, 12, 1024, 1536, 5 * 2**20, 3 * 2**30 + 7, 2**41])
def test_humanbytes_matches_celery(value: int) -> None:
    theirs = pytest.importorskip("celery.utils.debug")
    assert debug.humanbytes(value) == theirs.humanbytes(value)


def test_sample_spreads_evenly() -> None:
    assert list(debug.sample(list(range(100)), 4)) == [0, 25, 50, 75]
    assert list(debug.sample(list(range(10)), 3, k=1)) == [1, 4, 7]
    theirs = pytest.importorskip("celery.utils.debug")
    for args in (([1, 2], 5), ([], 3), (list(range(7)), 3, 2)):
        assert list(debug.sample(*args)) == list(theirs.sample(*args))  # type: ignore[arg-type]


def test_memory_samples_and_dump() -> None:
    pytest.importorskip("psutil")
    first = debug.sample_mem()
    assert first is not None and first[-2:] in ("MB", "KB", "GB")
    debug.sample_mem()
    out = io.StringIO()
    debug.memdump(file=out)
    text = out.getvalue()
    assert "- rss (sample):" in text and text.count("-    > ") == 2 and "- rss (end):" in text
    out = io.StringIO()
    debug.memdump(file=out)  # the samples were cleared
    assert "sample" not in out.getvalue()


def test_cry_shows_every_thread() -> None:
    release = threading.Event()
    worker = threading.Thread(target=release.wait, name="modpaths-waiter")
    worker.start()
    try:
        text = debug.cry()
    finally:
        release.set()
        worker.join()
    assert "modpaths-waiter" in text and "MainThread" in text and "in wait" in text


def test_blockdetection_interrupts_a_blocked_block() -> None:
    with pytest.raises(RuntimeError, match="Blocking detection"):
        with debug.blockdetection(0.05):
            time.sleep(2)
    with debug.blockdetection(1):
        pass  # a quick block is left alone, and the alarm is cancelled
    time.sleep(1.1)


def test_deprecated_callable_property_and_warn() -> None:
    from celeriac.exceptions import CDeprecationWarning, CPendingDeprecationWarning
    from celeriac.utils import deprecated

    @deprecated.Callable(removal="6.0", alternative="Use new_add.")
    def old_add(x: int, y: int) -> int:
        return x + y

    with pytest.warns(CDeprecationWarning, match=r"old_add is deprecated.*6\.0\. Use new_add"):
        assert old_add(1, 2) == 3

    class Thing:
        _value = 1

        @deprecated.Property(deprecation="5.9", removal="6.0")
        def value(self) -> int:
            return self._value

        @value.setter
        def value(self, new: int) -> None:
            self._value = new

    thing = Thing()
    with pytest.warns(CPendingDeprecationWarning, match="value is scheduled for deprecation"):
        assert thing.value == 1
    with pytest.warns(CPendingDeprecationWarning):
        thing.value = 5
    assert thing._value == 5
    with pytest.raises(AttributeError, match="cannot delete"):
        del thing.value  # no deleter
    with pytest.warns(CDeprecationWarning, match="x is deprecated"):
        deprecated.warn("x", removal="7")
