"""Ids that must be unique but need not be secret: request ids, and the ids of the rows a
submit creates (an order id names nothing outside its customer's key).

They come from a PRNG rather than ``os.urandom``: under load, the ``getrandom()`` call
behind ``uuid.uuid4()`` gives up the GIL and waits far longer to get it back than it runs
(~14 µs a call beside the writer thread, five calls per submit). The generator is this
module's own, seeded from the OS (the full Mersenne Twister state: 2,496 bytes), and
reseeded in every forked worker: whoever seeds the global ``random`` (a test framework, a
library) cannot make ids repeat, and two processes never share a sequence.

A Mersenne Twister's state can be worked out from enough of its output, so these ids
must never serve as a secret or an access token (every read is scoped by the caller's
customer; leases, deliveries and signing secrets use ``uuid4`` or ``secrets``).
"""

from __future__ import annotations

import os
import random
import uuid

_random = random.Random()  # noqa: S311 (unique, not secret: see above)
os.register_at_fork(after_in_child=_random.seed)


def request_id() -> str:
    return f"req_{_random.getrandbits(80):020x}"


def new_uuid() -> uuid.UUID:
    """A random (version 4) UUID."""
    return uuid.UUID(int=_random.getrandbits(128), version=4)
