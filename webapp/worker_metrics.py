"""GET /metrics under ``--workers N``: every worker's samples, from whichever worker answers.

A scrape reaches one worker (the kernel picks it), and each worker counts only what it
served: without more, the counters a scraper sees would jump between the workers' values
(Prometheus would take each drop for a reset). So every sample carries a ``worker`` label,
each worker writes its exposition to ``--data/metrics/worker-N.prom`` every few seconds
(written aside, then renamed: a reader never sees half a file), and a worker's /metrics is
its own fresh samples plus the other workers' last files, merged by family name. The other
workers' figures are up to WRITE_INTERVAL old; the file of a worker that is gone is left
out once it is STALE_AFTER old.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import gevent
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from sockets_core.logthrottle import ThrottledWarning

log = logging.getLogger(__name__)

WRITE_INTERVAL = 5.0  # how old the other workers' samples may be
STALE_AFTER = 30.0  # a file not rewritten for this long is of a worker that is gone
FOLDER = "metrics"


def file_of(folder: Path, number: int) -> Path:
    return folder / f"worker-{number}.prom"


class Labelled(Collector):
    """``registry``'s samples, each with ``worker="N"``."""

    def __init__(self, registry: CollectorRegistry, number: int) -> None:
        self.registry = registry
        self.worker = str(number)

    def describe(self) -> list[Metric]:
        return []  # no collect at registration

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            out = Metric(family.name, family.documentation, family.type, family.unit)
            out.samples = [s._replace(labels={**s.labels, "worker": self.worker}) for s in family.samples]
            yield out


class AllWorkers(Collector):
    """This worker's samples, fresh, and the other workers' from their files."""

    def __init__(self, own: CollectorRegistry, folder: Path, number: int) -> None:
        self.own, self.folder, self.number = own, folder, number
        self._warnings = ThrottledWarning(log)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        # the own samples go through the same text and parser as the others': one naming of families
        texts = [generate_latest(self.own).decode()]
        now = time.time()
        for path in sorted(self.folder.glob("worker-*.prom")):
            if path == file_of(self.folder, self.number):
                continue
            try:
                if now - path.stat().st_mtime > STALE_AFTER:
                    continue
                texts.append(path.read_text())
            except OSError:  # removed meanwhile
                continue
        families: dict[str, Metric] = {}
        for text in texts:
            try:
                for family in text_string_to_metric_families(text):
                    mine = families.get(family.name)
                    if mine is None:
                        families[family.name] = family
                    elif mine.type == family.type:
                        mine.samples.extend(family.samples)
            except ValueError as exc:  # a file that is not what a worker writes: its samples are left out
                self._warnings.warn("metrics: a worker's file in %s could not be read: %s", self.folder, exc,
                                    key="parse")
        yield from families.values()


def write(own: CollectorRegistry, path: Path) -> None:
    aside = path.with_suffix(".tmp")
    aside.write_bytes(generate_latest(own))
    os.replace(aside, path)


def install(app: Flask, registry: CollectorRegistry, data: Path, number: int) -> gevent.Greenlet[[], None]:
    """Label this worker's samples, keep its file written, and answer /metrics for all."""
    folder = data / FOLDER
    folder.mkdir(exist_ok=True)
    own = CollectorRegistry(auto_describe=False)
    own.register(Labelled(registry, number))
    merged = CollectorRegistry(auto_describe=False)
    merged.register(AllWorkers(own, folder, number))
    warnings = ThrottledWarning(log)

    def keep_writing() -> None:
        while True:
            try:
                write(own, file_of(folder, number))
            except OSError as exc:  # a full disk: the others' /metrics miss this worker meanwhile
                warnings.warn("metrics: cannot write %s: %s", file_of(folder, number), exc, key="write")
            gevent.sleep(WRITE_INTERVAL)

    def metrics() -> Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encoder(merged), content_type=content_type)

    app.view_functions["metrics"] = metrics
    return gevent.spawn(keep_writing)
