"""Tell browsers when a folder they look at changes: by sockdash itself (an upload, a
rename) at once, or by anyone else (a file copied in on disk) within a poll interval.

Only folders that a browser is looking at are polled, each with one scandir; a folder
with more than MAX_ENTRIES entries is compared on its first MAX_ENTRIES only, and that
is logged once.

Folders are named here as browsers name them, in the wire form of sockets_core.names
(a folder named in GBK on disk is ``~b64:…``): that is what a browser asks to watch and
what ``files-changed`` tells it, while FileStore gets the name on disk.
"""

from __future__ import annotations

import logging
import os
from collections import Counter

import gevent

from .bus import Bus
from .files import FileStore
from .names import from_wire, to_wire

log = logging.getLogger(__name__)

FILES_TOPIC = "files"
POLL_INTERVAL = 1.0
MAX_ENTRIES = 10_000

Signature = tuple[tuple[str, int, int], ...]


class FolderWatcher:
    def __init__(self, store: FileStore, bus: Bus, interval: float = POLL_INTERVAL) -> None:
        self.store = store
        self.bus = bus
        self.interval = interval
        self._watchers: Counter[str] = Counter()
        self._signatures: dict[str, Signature | None] = {}
        self._capped_logged: set[str] = set()
        self._greenlet: gevent.Greenlet[[], None] | None = None
        store.on_change = self.notify

    def watch(self, folder: str) -> None:
        if self._watchers[folder] == 0:
            self._signatures[folder] = self._signature(folder)
        self._watchers[folder] += 1

    def unwatch(self, folder: str) -> None:
        self._watchers[folder] -= 1
        if self._watchers[folder] <= 0:
            del self._watchers[folder]
            self._signatures.pop(folder, None)

    def notify(self, folder_on_disk: str) -> None:
        folder = to_wire(folder_on_disk)
        if folder in self._signatures:
            self._signatures[folder] = self._signature(folder)
        self.bus.publish(FILES_TOPIC, folder)

    def poll_once(self) -> list[str]:
        changed = []
        for folder in list(self._watchers):
            signature = self._signature(folder)
            if signature != self._signatures.get(folder):
                self._signatures[folder] = signature
                changed.append(folder)
                self.bus.publish(FILES_TOPIC, folder)
        return changed

    def _signature(self, folder: str) -> Signature | None:
        try:
            path = self.store.folder(from_wire(folder))
            entries = []
            with os.scandir(path) as it:
                for count, item in enumerate(it):
                    if count >= MAX_ENTRIES:
                        if folder not in self._capped_logged:
                            self._capped_logged.add(folder)
                            log.info("watch: folder '%s' has over %d entries; changes past them go unseen",
                                     folder, MAX_ENTRIES)
                        break
                    try:
                        st = item.stat()
                    except OSError:
                        continue
                    entries.append((item.name, st.st_size, st.st_mtime_ns))
            return tuple(sorted(entries))
        except (OSError, ValueError):
            return None  # gone or unsafe: "changed" once, then stable

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    def _run(self) -> None:
        while True:
            gevent.sleep(self.interval)
            self.poll_once()
