"""The chat hub's own cost per message, without sockets: ``say`` to a room of N members
whose delivery is what the TCP adapter's costs the hub (the line encoded once per event,
appended to a queue), on the in-memory bus with a /metrics-like second subscriber.

Compares this checkout with another (``--tree``, e.g. ``git worktree add /tmp/old HEAD~5``
or a ``git archive`` of it), each in its own process, alternating rounds, so that the
load of a shared machine hits both alike; prints min and median µs of CPU per message.

    .venv/bin/python bench/chat_hub.py --members 550 --tree /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, json, sys, time
from sockets_core.bus import Bus
from sockets_core.chat.hub import ChatHub, Member

members, messages, reps = (int(a) for a in sys.argv[1:4])
bus = Bus()
bus.subscribe(["chat"], limit=1000, name="metrics-like")
hub = ChatHub(bus)
sinks = []
for i in range(members):
    out = []
    sinks.append(out)
    hub.join(Member(f"m{i}", "tcp", (lambda o: lambda e: o.append(e.encoded_line("utf-8")))(out)), 0.0)
sender = Member("sender", "tcp", lambda e: None)
hub.join(sender, 0.0)
gc.collect()
gc.freeze()
runs = []
for rep in range(reps):
    for sink in sinks:
        sink.clear()
    start = time.process_time()
    for k in range(messages):
        hub.say(sender, f"BENCH|{k}", 1.0 + k)
    runs.append((time.process_time() - start) / messages * 1e6)
assert all(len(sink) == messages for sink in sinks)
print(json.dumps(runs))
"""


def probe(tree: Path, members: int, messages: int, reps: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(members), str(messages), str(reps)], cwd=tree,
                         env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True,
                         timeout=600)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=550)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--tree", type=Path, help="another checkout to compare with this one")
    args = parser.parse_args()
    trees = {"this checkout": ROOT} | ({f"--tree {args.tree}": args.tree} if args.tree else {})
    runs: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name] += probe(tree, args.members, args.messages, 3)
    print(f"say() to {args.members} members, {args.messages} messages x 3 reps x {args.rounds} rounds")
    print("| tree | min µs/message | median µs/message |")
    print("|---|---|---|")
    for name, values in runs.items():
        print(f"| {name} | {min(values):.1f} | {statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
