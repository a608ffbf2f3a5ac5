"""Run a source's iterator ahead in a background thread, so that network waits and commits overlap.

A crawler spends most of its time waiting for the rate limit; the ingestor spends
its time committing batches. Run in one thread, the two add up. :func:`run_ahead`
moves the iterator into a thread that keeps up to ``size`` items ready, so a
commit happens while the next requests wait their turn, and a crawl is bound by
the rate limit alone. Items come out in the same order with the same cursors;
an exception in the thread is raised in the consumer; closing the consumer
(or an exception there) stops the thread at its next item.

Examples
--------
>>> list(run_ahead(iter(range(5)), size=2))
[0, 1, 2, 3, 4]
>>> def broken():
...     yield 1
...     raise ValueError("page 2 is bad")
>>> out = run_ahead(broken())
>>> next(out)
1
>>> next(out)
Traceback (most recent call last):
...
ValueError: page 2 is bad
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["run_ahead"]

T = TypeVar("T")
_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def run_ahead(it: Iterator[T], *, size: int = 1000) -> Iterator[T]:
    """Yield what ``it`` yields, produced by a background thread up to ``size`` items ahead."""
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(x: object) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for x in it:
                if not put(x):
                    return
            put(_DONE)
        except BaseException as e:  # handed to the consumer, raised there
            put(_Failed(e))

    t = threading.Thread(target=produce, name="source-run-ahead", daemon=True)
    t.start()
    try:
        while True:
            x = q.get()
            if x is _DONE:
                return
            if isinstance(x, _Failed):
                raise x.exc
            yield x
    finally:
        stop.set()
