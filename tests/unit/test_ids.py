"""Ids from the per-process generator: well-formed, and never repeated by a forked worker."""

from __future__ import annotations

import os
import random
import re
import uuid
import warnings

from pressline import ids


def test_new_uuid_is_a_random_rfc_4122_uuid() -> None:
    made = {ids.new_uuid() for _ in range(1000)}
    assert len(made) == 1000
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in made)
    assert all(str(uuid.UUID(str(u))) == str(u) for u in made)


def test_request_ids_have_their_shape() -> None:
    assert re.fullmatch(r"req_[0-9a-f]{20}", ids.request_id())


def test_seeding_the_global_random_does_not_repeat_ids() -> None:
    state = random.getstate()
    try:
        random.seed(7)
        first = ids.new_uuid()
        random.seed(7)
        assert ids.new_uuid() != first
    finally:
        random.setstate(state)


def test_a_forked_worker_does_not_repeat_its_parents_ids() -> None:
    """granian forks its workers from one parent: without the reseed at fork, every
    worker would hand out the parent's next ids, the same order ids in each."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking with threads alive (earlier tests' writers);
        # the child only writes to a pipe and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: its next ids, then out without running pytest's exit
        try:
            os.write(write, "".join(str(ids.new_uuid()) for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        childs = pipe.read()
    os.waitpid(pid, 0)
    parents = "".join(str(ids.new_uuid()) for _ in range(3))
    assert len(childs) == len(parents) == 108
    assert childs != parents
