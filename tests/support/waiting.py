"""Waiting for a condition with a deadline, instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

# Celery's queues (image2model.worker.QUEUES) and kombu's hash of delivered, unacked messages:
# with task_acks_late a message stays there until its task has finished.
QUEUES = ("batch_processing", "model_generation", "maintenance")
UNACKED = "unacked"


def wait_until(
    condition: Callable[[], bool],
    timeout: float = 30,
    what: str = "condition",
    interval: float = 0.05,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def tasks_idle(client: redis.Redis) -> bool:
    """No Celery message is waiting in a queue or delivered to a task that has not finished."""
    pipe = client.pipeline(transaction=False)
    for queue in QUEUES:
        pipe.llen(queue)
    pipe.hlen(UNACKED)
    return not any(pipe.execute())


def wait_tasks_idle(client: redis.Redis, timeout: float = 30) -> None:
    """Until every task sent so far has run: idle on two looks in a row, since a message is
    briefly in neither place between a worker's BRPOP and its bookkeeping."""
    looks: list[bool] = []

    def settled() -> bool:
        looks.append(tasks_idle(client))
        return looks[-2:] == [True, True]

    wait_until(settled, timeout=timeout, what="Celery tasks to finish")
