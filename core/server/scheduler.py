"""The batching scheduler: one worker thread owns the engine; requests wait in a bounded queue;
those that are waiting together with the same sampler parameters run as one left-padded batch.

The engine's generation loop is blocking C++ (or torch) code, so it never runs on the event
loop: the worker thread calls `Session.generate_ids` and hands each job its messages through
`Job.sink` (which the web side makes thread-safe with `loop.call_soon_threadsafe`).

Batch compatibility: a batch is one `GenerationParams`, so jobs join one only when their
parameters are equal. A job that did not fix its seed is compatible with any other unseeded job
of the same parameters and gets the batch's seed (drawn at random); a seeded job runs only with
jobs of the same seed. At temperature 0 a row's tokens do not depend on its batch; above 0 the
noise is drawn for the whole batch, so a seeded request repeats exactly only in the same batch.

Cancellation: `Job.cancel()` (a client left) stops that job's messages at once; when every job
of the running batch is cancelled, the batch's CancelToken is set and the engine stops before its
next forward pass. A cancelled row of a batch that still has live rows keeps being computed with
them (the engine has no way to drop a row mid-run) until the batch ends.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..events import CancelToken, StepEvent
from ..params import SEED_LIMIT, GenerationParams
from ..session import Session


@dataclass(frozen=True)
class Step:
    """One sampler step of one job: `event`'s row `row` is this job's."""

    event: StepEvent
    row: int


@dataclass(frozen=True)
class Done:
    generated_ids: tuple[int, ...]
    text: str
    cancelled: bool
    seed: int
    batch_size: int
    steps: int
    forward_passes: int
    timings: dict[str, float]


@dataclass(frozen=True)
class Failed:
    error: BaseException


Message = Step | Done | Failed


class QueueFull(Exception):
    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} requests waiting")
        self.waiting = waiting


class SchedulerClosed(Exception):
    pass


@dataclass(eq=False)
class Job:
    prompt_ids: Sequence[int]
    params: GenerationParams
    seeded: bool
    sink: Callable[[Message], None]
    arrived: float = field(default_factory=time.monotonic)
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _on_cancel: Callable[[], None] | None = None

    @property
    def key(self) -> Any:
        """Jobs with equal keys may share a batch."""
        return (self.params, True) if self.seeded else (self.params.with_(seed=0), False)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()
        hook = self._on_cancel
        if hook is not None:
            hook()


@dataclass
class Stats:
    batches: int = 0
    rows: int = 0
    largest_batch: int = 0
    cancelled_batches: int = 0


class Scheduler:
    """`submit` from any thread; `close` stops the worker (cancelling what is left)."""

    def __init__(
        self,
        session: Session,
        max_batch: int = 8,
        max_queue: int = 32,
        gather_s: float = 0.025,
    ) -> None:
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        self.session = session
        self.max_batch = max_batch
        self.max_queue = max_queue  # jobs not yet running (the next batch gathers from them)
        self.gather_s = gather_s  # how long a job that found the engine idle waits for company
        self.stats = Stats()
        self._pending: deque[Job] = deque()
        self._running: list[Job] = []
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="llada-server-engine", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._pending)

    @property
    def running(self) -> tuple[Job, ...]:
        """The jobs of the batch the engine is running now."""
        with self._cond:
            return tuple(self._running)

    @property
    def busy(self) -> bool:
        with self._cond:
            return bool(self._running)

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closing:
                raise SchedulerClosed("the server is shutting down")
            if len(self._pending) >= self.max_queue:
                raise QueueFull(len(self._pending))
            self._pending.append(job)
            self._cond.notify()

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            jobs = list(self._pending) + list(self._running)
            self._cond.notify()
        for job in jobs:  # nobody is left waiting on a job that will never end
            if not job.cancelled:
                job.sink(Failed(SchedulerClosed("the server is shutting down")))
            job.cancel()
        self._thread.join(timeout)

    # -- the worker thread ---------------------------------------------------------------------
    def _next_batch(self) -> list[Job] | None:
        with self._cond:
            while True:
                while self._pending and self._pending[0].cancelled:
                    self._pending.popleft()
                if self._pending:
                    break
                if self._closing:
                    return None
                self._cond.wait()
            first = self._pending[0]
        # Let requests that arrive together (a burst of clients) gather into one batch.
        wait = first.arrived + self.gather_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        with self._cond:
            first = self._pending.popleft()
            batch = [first]
            for job in list(self._pending):
                if len(batch) >= self.max_batch:
                    break
                if job.key == first.key and not job.cancelled:
                    batch.append(job)
                    self._pending.remove(job)
            self._running = batch
            return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._running = []

    def _run(self, batch: list[Job]) -> None:
        first = batch[0]
        params = first.params if first.seeded else first.params.with_(seed=secrets.randbelow(SEED_LIMIT))
        token = CancelToken()

        def cancel_if_all_left() -> None:
            if all(j.cancelled for j in batch):
                token.cancel()

        for job in batch:
            job._on_cancel = cancel_if_all_left
        cancel_if_all_left()  # a job cancelled between its pick and now

        def on_step(event: StepEvent) -> bool:
            for row, job in enumerate(batch):
                if not job.cancelled:
                    job.sink(Step(event, row))
            return not token.cancelled

        self.stats.batches += 1
        self.stats.rows += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        try:
            result = self.session.generate_ids([j.prompt_ids for j in batch], params, on_step, token)
        except Exception as exc:  # delivered to every client of the batch, the worker goes on
            for job in batch:
                job.sink(Failed(exc))
            return
        if result.cancelled:
            self.stats.cancelled_batches += 1
        steps = len(result.trajectory)
        passes = result.trajectory[-1].forward_passes if result.trajectory else 0
        for row, job in enumerate(batch):
            if job.cancelled:
                continue
            job.sink(
                Done(
                    generated_ids=result.generated_ids[row],
                    text=result.texts[row],
                    cancelled=result.cancelled,
                    seed=params.seed,
                    batch_size=len(batch),
                    steps=steps,
                    forward_passes=passes,
                    timings=dict(result.timings),
                )
            )
