"""One queue for the language model, shared by the web chat and the HTTP API.

The model answers one question at a time. Every question, from a browser or an
API client, takes a ``Ticket`` and waits for its turn in arrival order, so
neither door can starve the other. The queue holds at most ``max_waiting``
tickets behind the one answering; one more is refused at once with
``QueueFull`` (an HTTP 429 with ``Retry-After``) instead of hanging.

Waiting works from a thread (``Ticket.wait``: Gradio runs the chat in worker
threads) and from the event loop (``Ticket.wait_async``: the API), and a
ticket that is released before its turn, because its client went away, simply
leaves the line.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import anyio

from rag.config import QUEUE_SIZE

T = TypeVar("T")

# What an answer is assumed to take before one has been timed (seconds).
FIRST_GUESS_S = 2.0


class QueueFull(Exception):
    """Too many questions are waiting; ``retry_after`` is a guess in whole seconds."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(
            f"The server is busy: {waiting} question(s) are waiting for the model. "
            f"Try again in about {retry_after} s."
        )
        self.waiting = waiting
        self.retry_after = retry_after


class Ticket:
    """A place in the queue; ``release()`` gives it up, whether or not its turn came."""

    def __init__(self, queue: ModelQueue) -> None:
        self._queue = queue
        self._granted = threading.Event()
        self._wakers: list[Callable[[], None]] = []
        self.granted_at: float | None = None
        self.released = False

    @property
    def granted(self) -> bool:
        return self._granted.is_set()

    @property
    def ahead(self) -> int:
        """Questions before this one (the one answering included); 0 once it is its turn."""
        return self._queue.ahead_of(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until it is this ticket's turn; False if ``timeout`` passed first."""
        return self._granted.wait(timeout)

    async def wait_async(self) -> None:
        """Wait in the event loop, holding no thread; cancelling it leaves the line."""
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(lambda: turn.done() or turn.set_result(None))

        if not self._queue.on_grant(self, wake):
            return
        try:
            await turn
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        self._queue.leave(self)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ModelQueue:
    """First come, first served access to the model, with a cap on how many wait."""

    def __init__(self, max_waiting: int = QUEUE_SIZE) -> None:
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be 0 or more, got {max_waiting}")
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._waiting: deque[Ticket] = deque()
        self._holder: Ticket | None = None
        self._answer_s = FIRST_GUESS_S  # a moving average of how long a turn lasts

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def busy(self) -> bool:
        return self._holder is not None

    def retry_after(self) -> int:
        """Seconds until a place is likely to free up: a turn's usual length, at least 1."""
        return max(1, math.ceil(self._answer_s))

    def enter(self) -> Ticket:
        """Join the line, or raise ``QueueFull`` when ``max_waiting`` are already in it."""
        ticket = Ticket(self)
        with self._lock:
            if self._holder is None and not self._waiting:
                self._grant(ticket)
            elif len(self._waiting) >= self.max_waiting:
                raise QueueFull(len(self._waiting), self.retry_after())
            else:
                self._waiting.append(ticket)
        return ticket

    def ahead_of(self, ticket: Ticket) -> int:
        with self._lock:
            if ticket is self._holder or ticket.released:
                return 0
            try:
                return self._waiting.index(ticket) + (self._holder is not None)
            except ValueError:
                return 0

    def on_grant(self, ticket: Ticket, wake: Callable[[], None]) -> bool:
        """Call ``wake`` when the ticket's turn comes; False if it has come already."""
        with self._lock:
            if ticket.granted or ticket.released:
                return False
            ticket._wakers.append(wake)
            return True

    def leave(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.released:
                return
            ticket.released = True
            if ticket is self._holder:
                held = time.monotonic() - (ticket.granted_at or time.monotonic())
                self._answer_s = 0.8 * self._answer_s + 0.2 * held
                self._holder = None
                if self._waiting:
                    self._grant(self._waiting.popleft())
            elif ticket in self._waiting:
                self._waiting.remove(ticket)

    def _grant(self, ticket: Ticket) -> None:
        # Called with the lock held.
        self._holder = ticket
        ticket.granted_at = time.monotonic()
        ticket._granted.set()
        for wake in ticket._wakers:
            wake()
        ticket._wakers.clear()


async def run_in_turn(ticket: Ticket, work: Callable[[], T]) -> T:
    """Wait for the ticket's turn, holding no thread, then run ``work`` (blocking) in a
    worker thread; the turn is given up however this ends."""
    try:
        await ticket.wait_async()
        return await anyio.to_thread.run_sync(work)
    finally:
        ticket.release()


class Steps(Generic[T]):
    """A blocking generator stepped from worker threads, one step at a time.

    Cancelling the ``await`` of a step (Stop, a closed tab, a client gone) does
    not stop the thread running it, and a generator cannot be closed while it
    runs; ``finish`` therefore closes it in a thread of its own, after the step
    under way, and only then gives the model's turn up, so the next question
    never meets the model still busy with this one.
    """

    def __init__(self, generator: Iterator[T]) -> None:
        self._generator = generator
        self._lock = threading.Lock()

    def next(self) -> T | None:
        with self._lock:
            return next(self._generator, None)

    def finish(self, ticket: Ticket) -> None:
        def close() -> None:
            try:
                with self._lock:
                    self._generator.close()
            finally:
                ticket.release()

        threading.Thread(target=close, name="close-turn", daemon=True).start()
