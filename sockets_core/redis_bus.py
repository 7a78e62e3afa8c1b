"""The bus of a cluster: the in-memory Bus for this instance, Redis Streams between instances.

``--bus redis://HOST:PORT/DB`` (or ``unix:///path/redis.sock``) makes every sockdash that names
the same Redis one world. How:

- Topics that are not cluster topics (bus.CLUSTER_TOPICS) stay local: ``publish`` hands them to
  the local in-memory Bus, as without Redis.
- A cluster topic's item goes into a bounded outgoing queue (``publish`` never waits; when the
  queue is full the oldest is dropped and counted) that one writer greenlet drains into Redis
  with pipelined ``XADD key MAXLEN ~ N`` (one stream per topic, bounded like our rings).
- One reader greenlet per instance ``XREAD``s every cluster stream (BLOCK) and publishes what it
  reads into the local Bus, this instance's own items included: every instance delivers the
  items of a stream in the stream's one order. Stream ids only grow, so the reader never hands
  an entry out twice, and after an outage it resumes from the last id it saw.
- Redis unreachable: ``state()`` is "reconnecting"; a cluster item published meanwhile is
  delivered locally at once and never written later (nothing is delivered twice); the reader
  retries with a capped backoff (``RECONNECT_MAX_DELAY``), so it is back within a few seconds
  of Redis. An item whose XADD failed half-way is delivered locally too and its sequence number
  remembered, so that if the XADD did land the reader skips it.
- Redis reachable but refusing (READONLY after a failover, OOM under noeviction, WRONGTYPE on
  a stream key someone overwrote): ``state()`` is "degraded" while it lasts, a throttled
  WARNING says why, the reader retries with the same backoff, and the writer delivers the
  refused items locally (as during an outage). No loop dies of it (cluster/loops.py).
- An entry that is not ours (no JSON object in ``d``) is skipped and counted
  (``bad_entries``), with a throttled WARNING naming its stream and id.

The redis client is made cooperative without relying on monkey-patching: its connections use
gevent sockets (``_GeventConnection``), so a blocked XREAD parks only the reader greenlet.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import gevent
import gevent.socket
import redis
from gevent.event import Event
from redis.connection import Connection, UnixDomainSocketConnection, parse_url

from .bus import Bus
from .cluster.loops import Backoff, spawn_forever
from .logthrottle import ThrottledWarning

log = logging.getLogger(__name__)

KEY_PREFIX = "sockdash:"
STREAM_PREFIX = KEY_PREFIX + "stream:"
DEFAULT_STREAM_MAX = 10_000  # entries per stream (XADD MAXLEN ~): --bus-stream-max
DEFAULT_OUT_QUEUE = 10_000  # cluster items waiting for the writer: --bus-queue
READ_BLOCK_MS = 1_000
READ_COUNT = 1_000
WRITE_BATCH = 500  # XADDs per pipeline round trip
RECONNECT_MAX_DELAY = 1.0  # seconds between attempts at most: back within ~1 s of Redis
SOCKET_TIMEOUT = 5.0  # a Redis that stops answering (not closed) is given up after this
FALLBACK_REMEMBERED = 10_000  # sequence numbers of items delivered locally after a failed write
CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
# every failure of a round trip: unreachable, or reached and refusing (READONLY, OOM, WRONGTYPE)
REDIS_ERRORS = (redis.RedisError, OSError)


class BusUnavailable(RuntimeError):
    """Redis could not be reached when sockdash started."""


class _GeventConnection(Connection):
    """A TCP connection on a gevent socket: cooperative even where socket is not monkey-patched."""

    def _connect(self) -> socket.socket:
        sock = gevent.socket.create_connection((self.host, self.port), timeout=self.socket_connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.socket_timeout)
        return sock


class _GeventUnixConnection(UnixDomainSocketConnection):
    def _connect(self) -> socket.socket:
        sock = gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.socket_connect_timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        sock.settimeout(self.socket_timeout)
        return sock


def redis_client(url: str, socket_timeout: float = SOCKET_TIMEOUT, name: str | None = None) -> redis.Redis:
    """A client for ``url`` (redis://HOST:PORT/DB, unix:///path?db=N, rediss://) whose sockets
    yield to gevent. Strings come back decoded (UTF-8). ``name``: its connections' name in
    Redis's CLIENT LIST (an operator sees which instance holds which connection)."""
    options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    gevent_class = {Connection: _GeventConnection, UnixDomainSocketConnection: _GeventUnixConnection}
    options["connection_class"] = gevent_class.get(options.get("connection_class", Connection),
                                                   options.get("connection_class", Connection))
    if name is not None:
        options["client_name"] = name
    pool = redis.ConnectionPool(**options, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
                                decode_responses=True)
    return redis.Redis(connection_pool=pool)


def redact_url(url: str) -> str:
    """``url`` without its password (shown in /api/status and the logs): the one in the
    userinfo and a ``password=`` of the query (redis-py takes either)."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        url = urlunsplit((parts.scheme, f"{parts.username or ''}:***@{host}", parts.path, parts.query,
                          parts.fragment))
    base, question, rest = url.partition("?")  # by hand: urlunsplit would turn unix:///p into unix:/p
    query, hash_sign, fragment = rest.partition("#")
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(key.lower() == "password" for key, _ in pairs):
        return url
    query = urlencode([(key, "***" if key.lower() == "password" else value) for key, value in pairs], safe="*/")
    return f"{base}{question}{query}{hash_sign}{fragment}"


def make_instance_id() -> str:
    """host-pid-random: unique across machines and across pid reuse in containers."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{random.randrange(16 ** 4):04x}"


def stream_key(topic: str) -> str:
    return STREAM_PREFIX + topic


class RedisBus(Bus):
    """BusLike over Redis Streams (see the module's doc). ``start()`` connects (or raises
    BusUnavailable), ``close()`` stops the greenlets and the client. A Bus itself: its
    subscriptions and the local delivery are the in-memory bus's (``_deliver_here``), so it
    goes wherever a Bus does."""

    def __init__(self, url: str, cluster_topics: Iterable[str], instance: str | None = None,
                 stream_max: int = DEFAULT_STREAM_MAX, out_queue: int = DEFAULT_OUT_QUEUE) -> None:
        if stream_max < 1 or out_queue < 1:
            raise ValueError("the stream length and the outgoing queue hold at least one item")
        super().__init__(instance or make_instance_id())
        self.url = url
        self.url_redacted = redact_url(url)
        self.cluster_topics = frozenset(cluster_topics)
        self.stream_max = stream_max
        self.out_limit = out_queue
        # Any: redis-py's annotations cover bytes and async answers too; with decode_responses
        # the answers are str, as the code reads them
        self.client: Any = redis_client(url, name=f"sockdash:{self.instance}")
        self._reader_client: Any = redis_client(url, socket_timeout=SOCKET_TIMEOUT + READ_BLOCK_MS / 1000,
                                                name=f"sockdash:{self.instance}:reader")
        self._outgoing: deque[tuple[str, str, int]] = deque()  # (topic, JSON, sequence number)
        self._out_dropped = 0
        self._seq = 0
        self._fallback_seqs: set[int] = set()
        self._fallback_order: deque[int] = deque()
        self._wake = Event()
        self._connected = False
        self._refusals: dict[str, str] = {}  # "reading"/"writing" -> why Redis, reachable, refused it last
        self._running = False
        self._last_ids: dict[str, str] = {}
        self._greenlets: list[gevent.Greenlet[Any, Any]] = []
        self._warnings = ThrottledWarning(log)
        self.delivered_from_redis = 0
        self.outages = 0
        self.bad_entries = 0  # stream entries skipped: not ours (no JSON object in "d")
        self.refused_writes = 0  # items Redis refused to store (delivered here only)

    # -- BusLike ---------------------------------------------------------------------------
    def state(self) -> str:
        if not self._connected:
            return "reconnecting"
        return "degraded" if self._refusals else "connected"

    def refusal(self) -> str | None:
        """Why the bus is degraded (shown in /api/status), else None."""
        return "; ".join(f"{doing}: {why}" for doing, why in self._refusals.items()) or None

    def publish(self, topic: str, item: Any) -> None:
        if topic not in self.cluster_topics or not isinstance(item, dict) or not self._running:
            # not a cluster item (bus.py's contract: a JSON-able dict): a wake-up without a
            # payload (status) or an object made for this process (a PacketEvent) stays here
            self._deliver_here(topic, item)
            return
        if "instance" not in item:
            item = {**item, "instance": self.instance}
        if not self._connected:
            self._deliver_here(topic, item)  # said during an outage: this instance only, once
            return
        if len(self._outgoing) >= self.out_limit:
            self._outgoing.popleft()
            self._out_dropped += 1
            self._warnings.warn("bus: the outgoing queue to Redis is full (--bus-queue %d): oldest item dropped",
                                self.out_limit, key="out")
        self._seq += 1
        self._outgoing.append((topic, json.dumps(item, default=str, ensure_ascii=False), self._seq))
        self._wake.set()

    def dropped_total(self) -> int:
        return super().dropped_total() + self._out_dropped

    def _deliver_here(self, topic: str, item: Any) -> None:
        Bus.publish(self, topic, item)

    # -- life cycle ------------------------------------------------------------------------
    def start(self, timeout: float = 5.0) -> None:
        """Connect (PING) within ``timeout`` s, note where every cluster stream ends now, and
        start the reader and the writer. Raises BusUnavailable naming the URL."""
        try:
            with gevent.Timeout(timeout, BusUnavailable(f"no answer within {timeout:.0f} s")):
                self.client.ping()
                self._note_stream_ends()
        except (*CONNECTION_ERRORS, BusUnavailable) as exc:
            raise BusUnavailable(f"cannot reach Redis at {self.url_redacted}: {exc}") from None
        except redis.RedisError as exc:  # reached, but it refuses: a wrong password, a DB out of range
            raise BusUnavailable(f"Redis at {self.url_redacted} refused: {exc}") from None
        self._connected = True
        self._running = True
        self._greenlets = [spawn_forever("bus reader", self._read_loop, lambda: self._running),
                           spawn_forever("bus writer", self._write_loop, lambda: self._running)]

    def close(self) -> None:
        self._running = False
        self._wake.set()
        gevent.killall(self._greenlets, timeout=2)
        self.client.close()
        self._reader_client.close()
        self.client.connection_pool.disconnect()
        self._reader_client.connection_pool.disconnect()

    def history(self, topic: str, count: int) -> list[tuple[str, Any]]:
        """The newest ``count`` entries of ``topic``'s stream, oldest first: (id, item)."""
        key = stream_key(topic)
        entries = self.client.xrevrange(key, count=count)
        good = []
        for entry_id, fields in reversed(entries):
            item = self._parse(key, entry_id, fields)
            if item is not None:
                good.append((entry_id, item))
        return good

    def _parse(self, key: str, entry_id: str, fields: Any) -> dict[str, Any] | None:
        """The item of a stream entry, or None (skipped, counted, a throttled WARNING)."""
        try:
            item = json.loads(fields["d"])
        except (KeyError, TypeError, ValueError):
            item = None
        if isinstance(item, dict):
            return item
        self.bad_entries += 1
        self._warnings.warn("bus: entry %s of %s is not a sockdash item (no JSON object in 'd'): skipped",
                            entry_id, key, key="bad")
        return None

    # -- the reader ------------------------------------------------------------------------
    def _note_stream_ends(self) -> None:
        for topic in self.cluster_topics:
            newest = self.client.xrevrange(stream_key(topic), count=1)
            self._last_ids[stream_key(topic)] = newest[0][0] if newest else "0-0"

    def _read_loop(self) -> None:
        backoff = Backoff(cap=RECONNECT_MAX_DELAY)
        while self._running:
            try:
                answer = self._reader_client.xread(self._last_ids, count=READ_COUNT, block=READ_BLOCK_MS)
            except CONNECTION_ERRORS as exc:
                self._lost(exc)
                backoff.sleep()
                continue
            except redis.RedisError as exc:  # reached, refusing: READONLY, WRONGTYPE, ...
                self._refused(exc, "reading")
                backoff.sleep()
                continue
            if not self._connected:
                log.warning("bus: Redis at %s is back after outage %d; resuming after the last ids seen",
                            self.url_redacted, self.outages)
                self._connected = True
            self._refusals.pop("reading", None)
            backoff.reset()
            for key, entries in answer or ():
                for entry_id, fields in entries:
                    self._last_ids[key] = entry_id
                    self._deliver(key, entry_id, fields)

    def _deliver(self, key: str, entry_id: str, fields: dict[str, str]) -> None:
        if fields.get("i") == self.instance and fields.get("s", "").isdigit() \
                and int(fields["s"]) in self._fallback_seqs:
            return  # already delivered locally when its write seemed to fail
        item = self._parse(key, entry_id, fields)
        if item is None:
            return
        self.delivered_from_redis += 1
        self._deliver_here(key[len(STREAM_PREFIX):], item)

    def _refused(self, exc: BaseException, doing: str) -> None:
        """Redis answered with an error: degraded (not an outage: what it takes still flows)."""
        self._refusals[doing] = why = f"{type(exc).__name__}: {exc}"
        self._warnings.warn("bus: Redis at %s refuses %s (%s): degraded, retrying", self.url_redacted, doing,
                            why, key="refused-" + doing)

    def _lost(self, exc: BaseException) -> None:
        if self._connected:
            self._connected = False
            self.outages += 1
            log.warning("bus: Redis at %s unreachable (%s): serving this instance's clients only, reconnecting",
                        self.url_redacted, exc)
        self._deliver_outgoing_locally([])

    # -- the writer ------------------------------------------------------------------------
    def _write_loop(self) -> None:
        while self._running:
            self._wake.wait()
            self._wake.clear()
            while self._outgoing and self._running:
                batch = [self._outgoing.popleft() for _ in range(min(WRITE_BATCH, len(self._outgoing)))]
                pipe = self.client.pipeline(transaction=False)
                for topic, payload, seq in batch:
                    pipe.xadd(stream_key(topic), {"d": payload, "i": self.instance, "s": seq},
                              maxlen=self.stream_max, approximate=True)
                try:
                    results = pipe.execute(raise_on_error=False)
                except CONNECTION_ERRORS as exc:
                    self._lost(exc)
                    self._deliver_outgoing_locally(batch)
                    continue
                except redis.RedisError as exc:
                    self._refused(exc, "writing")
                    self._deliver_refused(batch)
                    continue
                finally:
                    pipe.reset()
                refused = [entry for entry, result in zip(batch, results, strict=True)
                           if isinstance(result, Exception)]
                if refused:
                    self._refused(next(r for r in results if isinstance(r, Exception)), "writing")
                    self._deliver_refused(refused)
                else:
                    self._refusals.pop("writing", None)

    def _deliver_refused(self, batch: list[tuple[str, str, int]]) -> None:
        """Items Redis refused to store: this instance's clients get them, once; nobody else can."""
        self.refused_writes += len(batch)
        for topic, payload, _ in batch:
            self._deliver_here(topic, json.loads(payload))

    def _deliver_outgoing_locally(self, batch: list[tuple[str, str, int]]) -> None:
        """Items that may not have reached Redis: delivered here, once; their numbers remembered
        so that the reader skips those that did reach it."""
        batch = batch + list(self._outgoing)
        self._outgoing.clear()
        for topic, payload, seq in batch:
            self._fallback_seqs.add(seq)
            self._fallback_order.append(seq)
            if len(self._fallback_order) > FALLBACK_REMEMBERED:
                self._fallback_seqs.discard(self._fallback_order.popleft())
            self._deliver_here(topic, json.loads(payload))
