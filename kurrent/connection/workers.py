"""The connection manager's worker pool: daemon threads that run KurrentDB calls, so a
call's wait can be bounded whatever the client does inside."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class Workers:
    """A small pool of daemon threads running the calls.

    Daemon threads, unlike ThreadPoolExecutor's, never keep the process from exiting
    when a call hangs inside the client (whose reconnect has no deadline).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._count = 0

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((future, fn))
        if self._idle.acquire(blocking=False):
            return future  # an idle worker will take it
        with self._lock:
            if self._count < self._size:
                self._count += 1
                threading.Thread(
                    target=self._work, name=f"kurrent-call-{self._count}", daemon=True
                ).start()
        return future

    def _work(self) -> None:
        while True:
            future, fn = self._queue.get()
            if future.set_running_or_notify_cancel():
                try:
                    result = fn()
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                del future, fn
            self._idle.release()
