"""A queue that serves its owners in turn: one line per owner, and the next item comes
from the owner served least recently (``RenderPool``'s renders waiting for a worker,
owned by connectors: docs/adr/0013)."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar


class Owned(Protocol):
    @property
    def owner(self) -> Hashable: ...


T = TypeVar("T", bound=Owned)


class TurnQueue(Generic[T]):
    """Items waiting, one line per owner. ``popleft`` takes the first item of the owner
    served least recently (first come among equals); the caller says who was served
    (``served``), also when it served an item without queueing it. Not thread-safe: the
    caller holds its own lock."""

    #: Owners whose last turn is remembered beyond those with items queued.
    REMEMBERED = 4096

    def __init__(self) -> None:
        self._lines: dict[Hashable, deque[T]] = {}
        self._last_turn: dict[Hashable, int] = {}
        self._turns = 0

    def __bool__(self) -> bool:
        return bool(self._lines)

    def append(self, item: T) -> None:
        self._lines.setdefault(item.owner, deque()).append(item)

    def served(self, owner: Hashable) -> None:
        """``owner`` had its turn now."""
        self._turns += 1
        self._last_turn[owner] = self._turns
        if len(self._last_turn) > self.REMEMBERED:  # forget owners with nothing queued
            self._last_turn = {
                o: turn for o, turn in self._last_turn.items() if o in self._lines or o == owner
            }

    def popleft(self) -> T:
        """The first item of the owner whose turn it is (IndexError when empty)."""
        if not self._lines:
            raise IndexError("pop from an empty queue")
        owner = min(self._lines, key=lambda o: self._last_turn.get(o, 0))
        line = self._lines[owner]
        item = line.popleft()
        if not line:
            del self._lines[owner]
        return item

    def remove(self, item: T) -> None:
        """Take ``item`` out of its line (ValueError if it is not queued)."""
        line = self._lines.get(item.owner)
        if line is None:
            raise ValueError("not queued")
        line.remove(item)
        if not line:
            del self._lines[item.owner]

    def drain(self) -> list[T]:
        """Every queued item, the queue left empty."""
        drained = [item for line in self._lines.values() for item in line]
        self._lines.clear()
        return drained
