"""GET /metrics: what sockdash counts, in the Prometheus text format.

Nearly everything is read at scrape time from counters the services keep anyway (the
ServiceTaps, the admission tables, the bus, the packet log and its file, the warning
throttle's hits per limit), by a custom Collector: serving traffic costs nothing more.
Only what is not kept as a count, finished transfers and chat messages, is counted by
one greenlet that reads the bus like every other subscriber (bounded; if it falls behind,
its losses show in sockdash_bus_dropped_total).

Each app has its own CollectorRegistry (the tests build several apps in one process).
Labels never carry a peer address, a nick or a file name: a scrape's size must not grow
with the clients, and the page is readable without the admin token (see README,
"Monitoring").
"""

from __future__ import annotations

import logging
import platform
import weakref
from collections.abc import Iterator
from typing import Any

import gevent
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from sockets_core import __version__, logthrottle
from sockets_core.chat.hub import CHAT_TOPIC
from sockets_core.logthrottle import ThrottledWarning
from sockets_core.services import Services
from sockets_core.transfers import TRANSFER_TOPIC

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000  # bus items the observer may lag behind by
CHAT_KINDS = ("message", "action", "dm")
# a TFTP boot file is KiB to a few hundred MiB; an ISO over HTTP a few GiB
BYTES_BUCKETS = (1 << 10, 16 << 10, 256 << 10, 1 << 20, 16 << 20, 128 << 20, 1 << 30, 4 << 30)
SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)


class ServicesCollector(Collector):
    """The counters Services keeps, read at scrape time."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        svc = self.services
        up = GaugeMetricFamily("sockdash_service_up", "1 if the service is running", labels=["service"])
        clients = GaugeMetricFamily("sockdash_service_clients",
                                    "connections (TCP) or sessions (UDP, WebSocket) open now", labels=["service"])
        counters = {field: CounterMetricFamily(f"sockdash_service_{what}", help_text, labels=["service"])
                    for field, what, help_text in (
                        ("bytes_in", "received_bytes", "payload bytes received"),
                        ("bytes_out", "sent_bytes", "payload bytes sent"),
                        ("packets_in", "received_packets", "datagrams or reads received"),
                        ("packets_out", "sent_packets", "datagrams or writes sent"))}
        for name, tap in svc.all_taps().items():
            running = svc.running(name) or (name == "web_chat" and svc.http is not None)
            up.add_metric([name], 1.0 if running else 0.0)
            clients.add_metric([name], tap.counters.clients)
            for field, family in counters.items():
                family.add_metric([name], getattr(tap.counters, field))
        yield up
        yield clients
        yield from counters.values()

        refused = CounterMetricFamily("sockdash_connections_refused_total",
                                      "connections refused by a connection cap", labels=["service", "reason"])
        for name in ("http", *svc.taps):
            admission = svc.admission.get(name)
            if admission is not None:
                for reason, count in (("per_ip", admission.refusals.per_ip), ("total", admission.refusals.total),
                                      ("fds", admission.refusals.fds)):
                    refused.add_metric([name, reason], count)
        yield refused

        hits = CounterMetricFamily("sockdash_limit_hits", "times a limit bit (one WARNING is logged per "
                                   "interval, every hit is counted)", labels=["limit"])
        for limit, count in sorted(logthrottle.LIMIT_HITS.items()):
            hits.add_metric([limit], count)
        yield hits

        yield CounterMetricFamily("sockdash_bus_dropped", "events a slow subscriber lost (it is told how many)",
                                  value=svc.bus.dropped_total())
        yield CounterMetricFamily("sockdash_packet_log_events", "packet events recorded",
                                  value=svc.packetlog.recorded)
        yield GaugeMetricFamily("sockdash_packet_log_kept", "packet events kept in memory now",
                                value=len(svc.packetlog))
        packet_file = svc.packet_file
        yield CounterMetricFamily("sockdash_packet_file_dropped",
                                  "packet events --packet-log-file lost (fell behind, or a write failed)",
                                  value=packet_file.dropped if packet_file is not None else 0)
        yield GaugeMetricFamily("sockdash_transfers_running", "file transfers running now",
                                value=len(svc.transfers.active))
        shared = svc.cluster_packets  # --bus: the packet log of every instance (cluster/packets.py)
        if shared is not None:
            cluster = CounterMetricFamily("sockdash_cluster_packet_events", "packet events this instance sent to "
                                          "the others, left out (over --bus-packets-per-second), took in",
                                          labels=["what"])
            for what, count in (("shared", shared.shared), ("left_out", shared.left_out),
                                ("ingested", shared.ingested)):
                cluster.add_metric([what], count)
            yield cluster
        yield InfoMetricFamily("sockdash_build", "what runs",
                               value={"version": __version__, "python": platform.python_version()})


class EventCounters:
    """Finished transfers and chat messages, counted from the bus by one greenlet."""

    def __init__(self, services: Services, registry: CollectorRegistry) -> None:
        self.transfers = Counter("sockdash_transfers", "finished or refused transfers",
                                 ["kind", "direction", "result"], registry=registry)
        self.transfer_bytes = Histogram("sockdash_transfer_size_bytes", "bytes a finished transfer moved",
                                        ["kind", "direction"], buckets=BYTES_BUCKETS, registry=registry)
        self.transfer_seconds = Histogram("sockdash_transfer_duration_seconds", "how long a finished transfer took",
                                          ["kind", "direction"], buckets=SECONDS_BUCKETS, registry=registry)
        self.chat = Counter("sockdash_chat_messages", "chat messages, actions (/me) and direct messages",
                            ["kind", "transport"], registry=registry)
        self._instance = services.bus.instance
        self._warnings = ThrottledWarning(log)
        self.malformed = 0  # bus items that were not what their topic carries
        self._sub = services.bus.subscribe([TRANSFER_TOPIC, CHAT_TOPIC], limit=QUEUE_LIMIT, name="metrics")
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while not self._sub.closed:  # close() wakes the wait
            for topic, item in self._sub.get_batch(timeout=None).items:
                try:
                    self.observe(topic, item)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:  # not a sockdash item
                    self.malformed += 1
                    self._warnings.warn("metrics: a malformed %s item not counted (%s: %s)", topic,
                                        type(exc).__name__, exc, key=topic)

    def observe(self, topic: str, item: Any) -> None:
        if topic == TRANSFER_TOPIC:
            status = item.get("status")
            if status not in ("ok", "failed", "refused"):
                return  # progress of a running transfer
            if item.get("instance", self._instance) != self._instance:
                return  # with --bus every instance's transfers arrive: each counts its own
            kind, direction = item["kind"], item["direction"]
            self.transfers.labels(kind, direction, status).inc()
            if status != "refused":  # a refusal moved nothing and took no time
                self.transfer_bytes.labels(kind, direction).observe(item["bytes"])
                self.transfer_seconds.labels(kind, direction).observe(item["elapsed"])
        elif topic == CHAT_TOPIC and item["kind"] in CHAT_KINDS and item["instance"] == self._instance:
            # chat items are dicts (chat/wire.py); each instance counts what its members said
            self.chat.labels(item["kind"], item["transport"]).inc()

    def close(self) -> None:
        self._sub.close()
        self._greenlet.kill(block=False)


def install(app: Flask, services: Services) -> CollectorRegistry:
    """Add GET /metrics to ``app`` with a registry of its own."""
    registry = CollectorRegistry()
    registry.register(ServicesCollector(services))
    ProcessCollector(registry=registry)
    events = EventCounters(services, registry)
    app.extensions["sockdash_metrics"] = events
    app.extensions["sockdash_registry"] = registry  # --workers: webapp.worker_metrics labels and merges it
    # the greenlet holds no reference to the app: when the app goes (the tests make many),
    # its subscription and greenlet go too
    weakref.finalize(app, events.close)

    @app.get("/metrics")
    def metrics() -> Response:
        # the format the scraper asks for (Accept): Prometheus text, or OpenMetrics
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encoder(registry), content_type=content_type)

    return registry
