"""The parent's end of one render worker: the process, and the socket it answers on.

The parent sends pickled jobs (it trusts itself); the worker answers with small JSON
headers and raw output bytes, never a pickle, so even a worker taken over by a
sandbox escape could not run code in the server. Frames are those of
``multiprocessing.connection.Connection`` (a 4-byte length, then the data), which the
worker speaks.

The parent's end is non-blocking: it writes what the socket takes and reads what has
arrived, so whoever drives it (a thread polling with a deadline, or the event loop's
reader callbacks) is never held by a worker that stops mid-message.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from pressline.templates.model import RendererUnavailable

_BOOT_CODE = (
    "import sys; from pressline.templates.worker import serve_worker; "
    "serve_worker(int(sys.argv[1]))"
)

#: The frame length prefix (a negative length would announce a 64-bit one: refused).
_LENGTH = struct.Struct("!i")
#: Room for a frame's JSON header beyond the output itself.
_HEADER_ROOM = 64 * 1024

Message = tuple[dict[str, Any], bytes]


class Stopped(Exception):
    """The worker went away, or answered something it never sends."""


class WorkerProcess:
    """One worker process and the parent's (non-blocking) end of the socket to it.

    Every message from the worker is one frame: a JSON header line, then for
    ``{"t": "ok"}`` the output bytes.
    """

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.proc, self.sock = proc, sock
        sock.setblocking(False)
        self.fd = sock.fileno()
        self.inbox = bytearray()  # received, not yet taken as a message
        self.poller = select.poll()  # kept: a selector per wait costs more than the render
        self.poller.register(self.fd, select.POLLIN)

    @classmethod
    def start(cls, timeout: float) -> WorkerProcess:
        """A started worker that said it is ready (``RendererUnavailable`` if not in time)."""
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", _BOOT_CODE, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the server's group is not the worker's
            env=env,
        )
        theirs.close()
        worker = cls(proc, ours)
        try:
            if worker.receive(time.monotonic() + timeout, 0)[0] != {"t": "ready"}:
                raise Stopped("no ready message")
        except (Stopped, TimeoutError):
            worker.stop()
            raise RendererUnavailable("A template worker did not start.") from None
        return worker

    def alive(self) -> bool:
        return self.proc.poll() is None

    # --- sending ------------------------------------------------------------------------

    @staticmethod
    def frame(message: object) -> memoryview:
        """``message`` pickled, as one frame."""
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        return memoryview(_LENGTH.pack(len(data)) + data)

    def write(self, pending: memoryview) -> memoryview:
        """What is left of ``pending`` after writing what the socket takes now."""
        try:
            return pending[self.sock.send(pending) :]
        except BlockingIOError:
            return pending
        except OSError:
            raise Stopped("the worker is gone") from None

    def send(self, message: object, deadline: float) -> None:
        """Write ``message``, waiting in this thread until ``deadline`` (``TimeoutError``)."""
        pending = self.write(self.frame(message))
        while pending:
            writable = select.poll()
            writable.register(self.fd, select.POLLOUT)
            if not writable.poll(_milliseconds(deadline)):
                raise TimeoutError
            pending = self.write(pending)

    # --- receiving ----------------------------------------------------------------------

    def fill(self) -> None:
        """Read what has arrived (nothing is not an error; the end of the stream is)."""
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            raise Stopped("the worker is gone") from None
        if not data:
            raise Stopped("the worker is gone")
        self.inbox += data

    def take(self, max_body: int) -> Message | None:
        """The next whole message received, if there is one."""
        inbox = self.inbox
        if len(inbox) < _LENGTH.size:
            return None
        (size,) = _LENGTH.unpack_from(inbox)
        if not 0 <= size <= max_body + _HEADER_ROOM:
            raise Stopped("a message of an impossible size")
        end = _LENGTH.size + size
        if len(inbox) < end:
            return None
        frame = bytes(inbox[_LENGTH.size : end])
        del inbox[:end]
        head, _, body = frame.partition(b"\n")
        try:
            header = json.loads(head)
        except ValueError:
            raise Stopped("an unreadable message") from None
        if not isinstance(header, dict):
            raise Stopped("an unreadable message")
        return header, body

    def receive(self, deadline: float, max_body: int) -> Message:
        """The next message, waiting in this thread until ``deadline`` (``TimeoutError``)."""
        while (message := self.take(max_body)) is None:
            if not self.poller.poll(_milliseconds(deadline)):
                raise TimeoutError
            self.fill()
        return message

    def stop(self, *, wait: bool = True) -> None:
        """Kill the process; reap it now, or from a thread when ``wait`` is false."""
        self.proc.kill()
        self.sock.close()
        if wait:
            self.proc.wait()
        else:
            reap = threading.Thread(target=self.proc.wait, name="pressline-template-reap")
            reap.daemon = True
            reap.start()


def _milliseconds(deadline: float) -> int:
    return math.ceil(max(deadline - time.monotonic(), 0) * 1000)
