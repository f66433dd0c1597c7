"""The scheduler without HTTP: batches by parameters, the bounded queue, shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from llada_studio.core.params import GenerationParams
from llada_studio.core.server.scheduler import Done, Failed, Job, QueueFull, Scheduler, SchedulerClosed, Step

from .conftest import RecordingSession

PARAMS = GenerationParams(max_steps=8, gen_length=8, block_length=8, temperature=0.0)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[object] = []
        self.finished = threading.Event()

    def __call__(self, message: object) -> None:
        self.messages.append(message)
        if isinstance(message, (Done, Failed)):
            self.finished.set()


@pytest.fixture
def session(server_model):
    s = RecordingSession.open(server_model)
    s.delay = 0.01
    return s


def test_batches_follow_the_parameters(session):
    sched = Scheduler(session, max_batch=3, max_queue=10, gather_s=0.2)
    try:
        boxes = [Inbox() for _ in range(5)]
        steps = [8, 8, 4, 8, 8]  # the 4-step job cannot share; the fourth 8 is over max_batch
        for box, n in zip(boxes, steps):
            sched.submit(Job([5, 6, 7], PARAMS.with_(max_steps=n), True, box))
        for box in boxes:
            assert box.finished.wait(30)
        sizes = [next(m for m in b.messages if isinstance(m, Done)).batch_size for b in boxes]
        assert sizes == [3, 3, 1, 3, 1]
        assert sum(isinstance(m, Step) for m in boxes[0].messages) == 8
        assert sched.stats.batches == 3 and sched.stats.largest_batch == 3
    finally:
        sched.close()


def test_queue_bound_and_shutdown(session):
    session.delay = 0.05
    sched = Scheduler(session, max_batch=1, max_queue=2, gather_s=0.0)
    boxes = [Inbox() for _ in range(3)]
    slow = PARAMS.with_(max_steps=8)
    sched.submit(Job([5], slow, True, boxes[0]))
    while not sched.busy:
        time.sleep(0.005)
    sched.submit(Job([5], slow, True, boxes[1]))
    sched.submit(Job([5], slow, True, boxes[2]))
    with pytest.raises(QueueFull):
        sched.submit(Job([5], slow, True, Inbox()))
    sched.close()
    for box in boxes:  # running or waiting: each hears that the server stopped
        assert box.finished.is_set()
        assert isinstance(box.messages[-1], Failed) and isinstance(box.messages[-1].error, SchedulerClosed)
    with pytest.raises(SchedulerClosed):
        sched.submit(Job([5], slow, True, Inbox()))
    assert all(r.cancelled for _n, r in session.results)
