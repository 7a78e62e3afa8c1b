"""What lossless names cost: the surrogate check on every JSON message, and a listing of
names that are not UTF-8.

1. A /ws/packets batch (200 events) encoded by plain ``json.dumps`` (what the old code did,
   and which fails on a surrogate) and by ``webapp.frames.to_json`` (which checks for
   surrogates and rebuilds the message readable when there is one).
2. ``/api/files`` on a folder of 10,000 files, names in ASCII, UTF-8 Chinese and GBK,
   through the Flask app (listing, wire form, display).

    .venv/bin/python bench/names.py                     # this tree
    .venv/bin/python bench/names.py --source /tmp/before  # an older tree, side by side
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--source", type=Path, default=ROOT, help="import sockdash from this source tree")
SOURCE = _parser.parse_args().source
sys.path.insert(0, str(SOURCE))

from sockets_core.bus import Bus  # noqa: E402
from sockets_core.files import FileStore  # noqa: E402
from sockets_core.packetlog import PacketLog  # noqa: E402
from sockets_core.services import Services  # noqa: E402
from sockets_core.settings import Settings  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.frames import to_json  # noqa: E402

BATCH = 200
FILES = 10_000


def batch(summary: str) -> dict:  # type: ignore[type-arg]
    log = PacketLog()
    for i in range(BATCH):
        log.record("tftp", "udp", "data", "in", ("127.0.0.1", 69), ("127.0.0.1", 5000 + i),
                   b"x" * 200, f"{summary} {i}")
    return {"type": "packets", "events": [e.to_dict() for e in log.events()], "skipped": 0}


def per_call_us(call: object, number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6  # type: ignore[arg-type]


def encoding() -> None:
    print(f"{BATCH}-event batch          json.dumps    to_json   ratio")
    for label, summary in (("ASCII summaries", "RRQ config.txt octet"),
                           ("UTF-8 summaries", "RRQ 交换机配置.txt octet"),
                           ("GBK file names", "RRQ " + os.fsdecode("你好.txt".encode("gbk")) + " octet")):
        message = batch(summary)
        ours = per_call_us(lambda m=message: to_json(m), 200)
        try:
            json.dumps(message, ensure_ascii=False).encode("utf-8")
            plain = per_call_us(lambda m=message: json.dumps(m, ensure_ascii=False, separators=(",", ":")), 200)
            print(f"{label:24} {plain:8.0f} us {ours:8.0f} us   {ours / plain:.2f}")
        except UnicodeEncodeError:  # the old code's PacketEvent.to_dict kept the surrogates
            print(f"{label:24} {'raises':>11} {ours:8.0f} us      -")


def listing() -> None:
    print(f"\nGET /api/files, {FILES:,} files   per request   per entry")
    for label, make in (("ASCII names", lambda i: b"file-%05d.bin" % i),
                        ("UTF-8 names", lambda i: "配置-%05d.txt".encode() % i),
                        ("GBK names", lambda i: "配置-%05d.txt".encode("gbk") % i)):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.fsencode(tmp)
            for i in range(FILES):
                with open(root + b"/" + make(i), "wb"):
                    pass
            bus = Bus()
            app = create_app(Services(Settings(root=Path(tmp)), bus, PacketLog(bus), FileStore(Path(tmp))),
                             "token", [], {"TESTING": True})
            client = app.test_client()

            def get(client: object = client) -> None:
                response = client.get("/api/files")  # type: ignore[attr-defined]
                assert response.status_code == 200
                response.close()

            took = per_call_us(get, 3)
            print(f"{label:28} {took / 1000:8.1f} ms {took / FILES:8.2f} us")


if __name__ == "__main__":
    print(f"source: {SOURCE}")
    encoding()
    listing()
