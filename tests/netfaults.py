"""A lossy network for tests and benchmarks: a network namespace of its own whose loopback
drops one UDP datagram in N at random (nftables ``numgen random``), as root.

The drop is on the input hook: a drop on output would fail the sender's sendto() with
EPERM, which no real network does. Everything inside (servers, clients) is started with
``ns.command([...])``; the host's own loopback and its other processes see nothing of it.
Leaving the ``with`` block deletes the namespace and with it the rules and any socket
still bound there.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from types import TracebackType

_names = itertools.count()


def missing_tools() -> list[str]:
    """What this machine lacks to build the namespace (tests/tools/ensure_peers.sh installs nft)."""
    needs = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    return needs + (["root"] if os.geteuid() != 0 else [])


class LossyNamespace:
    def __init__(self, drop_one_in: int = 20) -> None:
        self.drop_one_in = drop_one_in
        self.name = f"sockdash-faults-{os.getpid()}-{next(_names)}"

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv), capture_output=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]

    def dropped(self) -> int:
        """Datagrams the rule dropped so far."""
        listing = self.run(["nft", "list", "table", "inet", "faults"], check=True).stdout
        match = re.search(r"counter packets (\d+)", listing)
        return int(match.group(1)) if match else 0

    def __enter__(self) -> LossyNamespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        try:
            self.run(["ip", "link", "set", "lo", "up"], check=True)
            rules = ("table inet faults {\n chain input {\n type filter hook input priority 0; policy accept;\n"
                     f" meta l4proto udp numgen random mod {self.drop_one_in} == 0 counter drop\n }}\n}}\n")
            self.run(["nft", "-f", "-"], input=rules, check=True)
        except BaseException:
            self._delete()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._delete()

    def _delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
