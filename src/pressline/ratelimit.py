"""Per-API-key rate limits, checked at the edge before routing and before the database.

A request to ``/api/…`` is counted against the key id it presents (``pk_…`` from
``X-API-KEY``). The quota is the connector's own (``connectors.rate_limit_per_second``)
or ``PRESSLINE_RATE_LIMIT``; the edge learns a key's connector from
:data:`pressline.accounts.service.known_keys`, which authentication fills, so checking
the limit never costs a database round trip (docs/adr/0007). A presented key that has not
authenticated in this process yet, or whose secret does not match, is counted in a bucket
of its own: someone who knows only a key id cannot spend its owner's quota.

The algorithm is ``limits``' moving window: at most ``q`` requests in any ``w`` seconds,
the whole quota usable as one burst. Backends: in-process memory (one process), or
Redis (``PRESSLINE_REDIS_URL``) so every API process shares one count (each process
admits a small share on its own and records it in Redis within milliseconds, see
:class:`RedisBackend`). When Redis cannot
be reached the request is served unchecked (fail-open), counted, and logged at most once
per :data:`WARN_EVERY` seconds; after :data:`FAILURES_BEFORE_SKIPPING` failures in a row
Redis is left alone for :data:`RETRY_AFTER_FAILURE` seconds at a time, so that requests do
not queue behind a dead server.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindow
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from redis.asyncio import BlockingConnectionPool

from pressline.accounts import keys
from pressline.accounts.service import KnownKey, KnownKeys, known_keys
from pressline.config import Settings

log = structlog.get_logger("pressline.ratelimit")

#: Seconds between two "Redis is unreachable" warnings (one per outage otherwise).
WARN_EVERY = 30.0
#: Seconds during which requests skip Redis after it failed (fail-open at no cost).
RETRY_AFTER_FAILURE = 1.0
#: Namespace of every counter in the store (Redis keys start with ``LIMITS:LIMITER/``).
NAMESPACE = "pressline"
#: Buckets a process keeps its view of (one per active key); reached only by a key flood.
MAX_COUNTS = 10_000
#: Seconds between two sweeps of expired entries in the in-memory store.
EXPIRE_EVERY = 1.0
#: Redis connections per API process (requests beyond it queue for one).
MAX_REDIS_CONNECTIONS = 32
#: Seconds to open a connection (at least): a busy event loop answers a TCP handshake
#: late. A hung Redis is caught by the command timeout (PRESSLINE_REDIS_TIMEOUT).
CONNECT_TIMEOUT = 0.5
#: Consecutive failures after which requests skip Redis for RETRY_AFTER_FAILURE seconds.
FAILURES_BEFORE_SKIPPING = 3


@dataclass(frozen=True, slots=True)
class Policy:
    """A quota: at most ``quota`` requests in any ``window`` seconds."""

    quota: int
    window: int
    item: RateLimitItem
    header: bytes  # the RateLimit-Policy field value

    @classmethod
    def parse(cls, text: str) -> Policy:
        """``"100/second"``, ``"200 per 2 seconds"``: ``limits``' notation, one limit."""
        return cls.of(parse(text))

    @classmethod
    def of(cls, item: RateLimitItem) -> Policy:
        window = item.get_expiry()
        header = f'"default";q={item.amount};w={window}'.encode()
        return cls(item.amount, window, item, header)


@lru_cache(maxsize=256)
def per_second(quota: int) -> Policy:
    """A connector's own limit (shared, so equal limits share one ``Policy``)."""
    return Policy.of(RateLimitItemPerSecond(quota))


@dataclass(frozen=True, slots=True)
class Window:
    """The state of one bucket after a hit."""

    admitted: bool
    remaining: int
    reset_in: float  # seconds until the oldest counted request leaves the window
    heard: bool = True  # the store answered this hit (not answered from a process's view)


class BackendUnavailable(Exception):
    """The shared store did not answer: the caller serves the request unchecked."""


class RateLimitBackend(Protocol):
    """Where the counts live. Implementations: :class:`MemoryBackend`, :class:`RedisBackend`."""

    name: str

    async def hit(self, policy: Policy, bucket: str) -> Window:
        """Count one request in ``bucket``; raise :class:`BackendUnavailable` if unreachable."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers (readiness)."""
        ...

    async def aclose(self) -> None: ...


class _RepeatingTimer(threading.Timer):
    """Calls ``function`` every ``interval`` seconds until cancelled."""

    def run(self) -> None:
        while not self.finished.wait(self.interval):
            self.function(*self.args, **self.kwargs)


class MemoryBackend:
    """Counts in this process: exact for one API process, per process with several.

    ``limits``' synchronous memory store: no ``await`` between looking and counting, so
    a hit is atomic on the event loop. Left alone, that store starts a new thread every
    10 ms to drop expired entries and waits for each one to start, which on a busy
    server (the writer thread holds the GIL) costs the request milliseconds. One
    long-lived thread expires entries every :data:`EXPIRE_EVERY` seconds instead; the
    store starts no thread of its own while it sees that one alive.
    """

    name = "memory"

    def __init__(self) -> None:
        self._storage = MemoryStorage()
        self._storage.timer.cancel()
        # limits' own cleanup (a private method: limits is pinned in requirements/).
        expire = getattr(self._storage, "_MemoryStorage__expire_events")  # noqa: B009
        self._expiry = _RepeatingTimer(EXPIRE_EVERY, expire)
        self._expiry.daemon = True
        self._expiry.name = "pressline-ratelimit-expiry"
        self._limiter = MovingWindowRateLimiter(self._storage)

    async def hit(self, policy: Policy, bucket: str) -> Window:
        if self._storage.timer is not self._expiry:  # first hit: an app never served has none
            self._expiry.start()
            self._storage.timer = self._expiry
        admitted = self._limiter.hit(policy.item, NAMESPACE, bucket)
        stats = self._limiter.get_window_stats(policy.item, NAMESPACE, bucket)
        return Window(admitted, stats.remaining, stats.reset_time - time.time())

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._expiry.cancel()


def local_share(policy: Policy) -> int:
    """Requests one process may admit for a bucket before Redis hears of them.

    A twentieth of the quota (5 of 100): none at all for quotas under 20, which are
    counted in Redis request by request.
    """
    return policy.quota // 20


def headroom(policy: Policy) -> int:
    """Below this many requests left in the window, every request is counted in Redis first."""
    return policy.quota // 4


def record_every(policy: Policy) -> float:
    """Seconds after which a process tells Redis what it admitted (a twentieth of the window)."""
    return policy.window / 20


@dataclass(slots=True)
class _Count:
    """One bucket as this process sees it: Redis's count when last read, and what came since.

    ``remaining`` and ``reset_at`` are what Redis reported when this process last
    recorded its requests (at ``recorded_at``); ``unrecorded`` requests were admitted
    here since, and Redis has not counted them yet. ``denied_until`` is set when Redis
    refused a request with nothing left in the window: in a moving window nothing leaves
    before its oldest entry, so until then every request is refused without asking.
    """

    policy: Policy
    bucket: str
    remaining: int = 0
    reset_at: float = 0.0  # time.time() at which the oldest counted request leaves the window
    recorded_at: float = -math.inf  # time.monotonic()
    unrecorded: int = 0
    denied_until: float = 0.0  # time.time()
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one record at a time
    flush: asyncio.TimerHandle | None = None  # records the unrecorded ones if no request does

    def admit_here(self, now: float, *, recording_elsewhere: bool) -> Window | None:
        """Answer without Redis if this process may, else None (record first)."""
        policy = self.policy
        wall = time.time()
        if wall < self.denied_until:
            return Window(False, 0, self.denied_until - wall, heard=False)
        if now - self.recorded_at >= record_every(policy) and not recording_elsewhere:
            return None  # due: this request records (while one records, others go on here)
        if self.unrecorded >= local_share(policy):
            return None
        if self.remaining - self.unrecorded <= headroom(policy):
            return None
        self.unrecorded += 1
        return Window(True, self.remaining - self.unrecorded, self.reset_at - wall, heard=False)


class RedisBackend:
    """Counts in Redis, shared by every API process that points at it.

    Asking Redis on every request would cost each one a round trip and some 100 µs of
    client CPU (docs/adr/0007). So each process admits a little on its own and tells
    Redis soon after, within the bounds of :func:`local_share`, :func:`headroom` and
    :func:`record_every`: while Redis last reported more than a quarter of the quota
    left, a process admits up to a twentieth of the quota on its own, and records them
    in one hit of ``limits``' moving window (``cost`` = their number, plus the request
    that records) at the latest a twentieth of the window later, then reads the window
    back. Near the limit, and for quotas under 20, every request is counted in Redis
    before it is admitted, so refusals come from Redis's own count. What this trades:
    with N processes, a window can admit up to N x (quota / 20) more than the quota, when
    the processes' views are stale at the same moment.

    Timeouts are short (``timeout`` seconds per command, no client retries): an
    unreachable Redis must cost a request milliseconds, not seconds.
    """

    name = "redis"

    def __init__(self, url: str, *, timeout: float) -> None:
        connect_timeout = max(timeout, CONNECT_TIMEOUT)
        # A record: maybe a connect, and up to four commands (hit, window, and the rare
        # split hit of a refused record).
        self._deadline = connect_timeout + 4 * timeout
        # Blocking: a burst beyond the pool waits (briefly) for a connection, not an error.
        self._pool = BlockingConnectionPool.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=connect_timeout,
            max_connections=MAX_REDIS_CONNECTIONS,
            timeout=timeout * 2,
            driver_info=None,  # no CLIENT SETINFO: one round trip less per new connection
        )
        storage = RedisStorage(
            "async+" + url,
            implementation="redispy",
            connection_pool=self._pool,  # type: ignore[arg-type]  # passed to redis-py as is
        )
        self._storage = storage
        self._limiter = AsyncMovingWindow(storage)
        self._counts: dict[str, _Count] = {}
        self._flushing: set[asyncio.Task[None]] = set()

    async def hit(self, policy: Policy, bucket: str) -> Window:
        count = self._count(policy, bucket)
        window = count.admit_here(time.monotonic(), recording_elsewhere=count.lock.locked())
        if window is None:
            try:
                async with asyncio.timeout(self._deadline), count.lock:
                    # The record this one waited for may have made room here.
                    window = count.admit_here(time.monotonic(), recording_elsewhere=False)
                    if window is None:
                        window = await self._record(count, request=True)
            except Exception as exc:  # whatever breaks in the store, the request is served
                raise BackendUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if count.unrecorded and count.flush is None:
            loop = asyncio.get_running_loop()
            count.flush = loop.call_later(record_every(policy), self._flush, count)
        return window

    def _count(self, policy: Policy, bucket: str) -> _Count:
        key = f"{bucket}/{policy.quota}/{policy.window}"
        count = self._counts.get(key)
        if count is None:
            if len(self._counts) >= MAX_COUNTS:
                self._counts.clear()
            count = self._counts[key] = _Count(policy, bucket)
        return count

    async def _record(self, count: _Count, *, request: bool) -> Window:
        """Tell Redis what this process admitted (and ask for this ``request``), read the window.

        Called with ``count.lock`` held. The unrecorded requests are taken first: if
        Redis fails now, they are lost to the shared count, like the ones served open.
        """
        served, count.unrecorded = count.unrecorded, 0
        if count.flush is not None:
            count.flush.cancel()
            count.flush = None
        item, bucket, hit = count.policy.item, count.bucket, self._limiter.hit
        admitted = await hit(item, NAMESPACE, bucket, cost=served + request)
        # Refused with some served here: they may fit, and then this one too. Rare: only
        # when other processes took what this one last saw left.
        if not admitted and request and served and await hit(item, NAMESPACE, bucket, cost=served):
            admitted = await hit(item, NAMESPACE, bucket)
        stats = await self._limiter.get_window_stats(item, NAMESPACE, bucket)
        count.remaining, count.reset_at = stats.remaining, stats.reset_time
        count.recorded_at = time.monotonic()
        if request and not admitted and stats.remaining <= 0:
            count.denied_until = stats.reset_time
        remaining = stats.remaining - count.unrecorded if admitted else 0
        return Window(admitted, max(remaining, 0), stats.reset_time - time.time())

    def _flush(self, count: _Count) -> None:
        """Record what was admitted here, now that no request has done it for a while."""
        count.flush = None
        task = asyncio.ensure_future(self._flush_now(count))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush_now(self, count: _Count) -> None:
        try:
            async with asyncio.timeout(self._deadline), count.lock:
                if count.unrecorded:
                    await self._record(count, request=False)
        except Exception as exc:  # the next request's own check reports an outage
            log.debug("rate_limit_flush_failed", error=f"{type(exc).__name__}: {exc}")

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self._deadline):
                return await self._storage.check()
        except Exception:  # not ready, whatever the cause
            return False

    async def aclose(self) -> None:
        """Record what is still unrecorded (best effort, one deadline for all of it: a
        process stopping while Redis is away must not wait once per key), then close."""
        flushes = list(self._flushing)
        for count in self._counts.values():
            if count.flush is not None:
                count.flush.cancel()
                count.flush = None
                flushes.append(asyncio.ensure_future(self._flush_now(count)))
        if flushes:
            _done, late = await asyncio.wait(flushes, timeout=self._deadline)
            for task in late:
                task.cancel()
        await self._pool.disconnect()


@dataclass(frozen=True, slots=True)
class Presented:
    """The key a request presents and, if it authenticated here with that secret, its owner."""

    key: str
    secret: str
    known: KnownKey | None


def presented_key(header: bytes | None, known_keys: KnownKeys) -> Presented | None:
    """Parse ``X-API-KEY`` (no I/O); None when absent or malformed (401 follows anyway)."""
    if header is None:
        return None
    parsed = keys.parse_header(header.decode("latin-1"))
    if parsed is None:
        return None
    key, secret = parsed
    return Presented(key, secret, known_keys.verified(key, secret))


class RateLimitEvents(Protocol):
    """What the limiter reports (to metrics)."""

    def rejected(self) -> None:
        """A request was answered 429."""

    def backend_error(self) -> None:
        """The shared store failed to answer."""

    def unchecked(self) -> None:
        """A request was served without a check because the store is unavailable."""


class NoEvents:
    def rejected(self) -> None:
        return None

    def backend_error(self) -> None:
        return None

    def unchecked(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the edge does with one request: serve it or answer 429, and which headers."""

    allowed: bool
    headers: list[tuple[bytes, bytes]]
    retry_after: int = 0


class RateLimiter:
    """The per-key check the edge runs on every ``/api/…`` request."""

    def __init__(
        self,
        backend: RateLimitBackend,
        default: Policy,
        *,
        known: KnownKeys,
        events: RateLimitEvents | None = None,
    ) -> None:
        self.backend = backend
        self.default = default
        self.known = known
        self.events = events or NoEvents()
        self._skip_until = 0.0
        self._failures = 0
        self._warned_at = -math.inf

    def policy_for(self, known: KnownKey | None) -> Policy:
        if known is None or known.rate_limit_per_second is None:
            return self.default
        return per_second(known.rate_limit_per_second)

    async def check(self, key: str, known: KnownKey | None) -> Decision:
        """Count this request for ``key``; admitted, or rejected with Retry-After."""
        policy = self.policy_for(known)
        bucket = key if known is not None else "unverified/" + key
        if time.monotonic() < self._skip_until:
            return self._fail_open(policy)
        try:
            window = await self.backend.hit(policy, bucket)
        except BackendUnavailable as exc:
            self._backend_failed(exc)
            return self._fail_open(policy)
        if self._failures and window.heard:  # answered from a view: Redis may still be away
            self._recovered()
        reset = max(0, math.ceil(window.reset_in))
        headers = [
            (b"ratelimit-policy", policy.header),
            (b"ratelimit", b'"default";r=%d;t=%d' % (max(window.remaining, 0), reset)),
        ]
        if window.admitted:
            return Decision(True, headers)
        self.events.rejected()
        return Decision(False, headers, retry_after=max(1, reset))

    def _fail_open(self, policy: Policy) -> Decision:
        self.events.unchecked()
        return Decision(True, [(b"ratelimit-policy", policy.header)])

    def _backend_failed(self, exc: BackendUnavailable) -> None:
        self.events.backend_error()
        self._failures += 1
        now = time.monotonic()
        if self._failures >= FAILURES_BEFORE_SKIPPING:
            self._skip_until = now + RETRY_AFTER_FAILURE
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning(
                "rate_limit_backend_unreachable",
                backend=self.backend.name,
                error=str(exc),
                failures=self._failures,
                action="serving requests without a rate limit check",
            )

    def _recovered(self) -> None:
        log.info("rate_limit_backend_recovered", backend=self.backend.name, failures=self._failures)
        self._failures = 0
        self._warned_at = -math.inf


def build_limiter(settings: Settings, *, events: RateLimitEvents | None) -> RateLimiter | None:
    """The limiter ``settings`` ask for: None when ``PRESSLINE_RATE_LIMIT=off``."""
    if settings.rate_limit.lower() == "off":
        return None
    backend: RateLimitBackend = (
        RedisBackend(settings.redis_url, timeout=settings.redis_timeout)
        if settings.redis_url
        else MemoryBackend()
    )
    return RateLimiter(backend, Policy.parse(settings.rate_limit), known=known_keys, events=events)
