"""The render pool's waiting line: owners served in turn."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pressline.templates.turns import TurnQueue


@dataclass(eq=False)
class Job:
    owner: str
    n: int


def taken(queue: TurnQueue[Job], count: int) -> list[str]:
    jobs = []
    for _ in range(count):
        job = queue.popleft()
        queue.served(job.owner)
        jobs.append(f"{job.owner}{job.n}")
    return jobs


def test_owners_take_turns_whatever_their_backlog() -> None:
    queue: TurnQueue[Job] = TurnQueue()
    for n in range(3):
        queue.append(Job("a", n))
    queue.append(Job("b", 0))
    queue.append(Job("c", 0))
    assert taken(queue, 5) == ["a0", "b0", "c0", "a1", "a2"]
    assert not queue
    with pytest.raises(IndexError):
        queue.popleft()


def test_an_owner_served_without_queueing_waits_its_turn() -> None:
    queue: TurnQueue[Job] = TurnQueue()
    queue.served("a")  # a worker was idle: a's render went straight to it
    queue.append(Job("a", 1))
    queue.append(Job("b", 0))
    assert taken(queue, 2) == ["b0", "a1"]


def test_forgetting_old_owners_keeps_the_one_just_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TurnQueue, "REMEMBERED", 2)
    queue: TurnQueue[Job] = TurnQueue()
    for owner in ("x", "y", "z"):
        queue.served(owner)  # the third forgets those with nothing queued, but not z
    queue.append(Job("z", 1))
    queue.append(Job("w", 0))
    assert taken(queue, 2) == ["w0", "z1"]


def test_removed_and_drained_jobs_leave_the_lines() -> None:
    queue: TurnQueue[Job] = TurnQueue()
    first, second = Job("a", 0), Job("b", 0)
    queue.append(first)
    queue.append(second)
    queue.remove(first)
    with pytest.raises(ValueError, match="not queued"):
        queue.remove(first)
    assert queue.drain() == [second] and not queue
