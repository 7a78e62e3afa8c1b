"""What the direct messages kept for browser tabs' reloads really cost in memory.

PrivateMessages (sockets_core/chat/private.py) bounds itself by an estimate: each kept
message counts its text, its two nicks and ENTRY_OVERHEAD bytes. This fills a store to its
byte bound with short messages (the usual chat line) and with 8 KiB ones (the longest a
browser may send), every message a ChatEvent of its own (the worst case: in the server an
event is shared by the sender's and the recipient's tabs), and compares the estimate with
what tracemalloc sees the store hold.

    .venv/bin/python bench/chat_private.py [--max-bytes 16M]
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

from sockets_core.chat.events import ChatEvent
from sockets_core.chat.private import ENTRY_OVERHEAD, PrivateMessages
from sockets_core.settings import parse_size


def fill(max_bytes: int, text_length: int) -> tuple[int, int, int]:
    """(messages kept, bytes the store counts, bytes it really holds)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = PrivateMessages(per_client=200, max_bytes=max_bytes)
    n = 0
    while True:  # tabs of 200 messages each, until the bound starts dropping tabs
        tab, partner = f"tab-secret-{n // 200:06d}.0123456789abcdef", f"peer{n % 50:02d}"
        text = (f"{n:08d} " + "x" * text_length)[:text_length]
        event = ChatEvent("dm", "", partner, "tcp", text, 1_000.0 + n, to=f"web{n // 200:05d}", id=n + 1)
        if store.add(tab, partner, event, 1_000.0 + n * 1e-3) is not None:
            break
        n += 1
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return len(store), store.size, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-bytes", default="16M")
    args = parser.parse_args()
    max_bytes = parse_size(args.max_bytes)
    print(f"ENTRY_OVERHEAD = {ENTRY_OVERHEAD} B, bound {max_bytes:,} B")
    print("| message | kept | counted (MiB) | held (MiB) | held / counted |")
    print("|---|---|---|---|---|")
    for label, length in (("short (20 characters)", 20), ("8 KiB", 8_000)):
        kept, counted, held = fill(max_bytes, length)
        print(f"| {label} | {kept:,} | {counted / 2**20:.1f} | {held / 2**20:.1f} | {held / counted:.2f} |")


if __name__ == "__main__":
    main()
