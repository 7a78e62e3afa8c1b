"""SO_REUSEPORT vs one acceptor handing off: what --workers uses (webapp/workers.py), measured.

Two ways for 2 worker processes to share a port, on the same load, one run:
  reuseport  each worker binds the port with SO_REUSEPORT; the kernel picks a worker by a hash of
             the 4-tuple (what sockdash does)
  handoff    one acceptor process owns the port and passes each TCP connection (SCM_RIGHTS) or
             each UDP datagram (with its sender, over a unix datagram socket) to the workers in turn

Load: TCP, clients connect, read one byte the worker sends, close; UDP, 64 client sockets send
small datagrams (a TFTP request's size). Reported: work items per second and the servers' CPU per
item (the acceptor's included), which is what decides on a machine whose cores are busy.

    .venv/bin/python bench/reuseport_handoff.py [--seconds 3]

Plain sockets, no sockdash; traffic on 127.0.0.1; every loop is bounded by --seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"
WORKERS = 2
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def bound(kind: int, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(1024)
    return sock


# -- servers (each runs until SIGTERM in a process of its own) -----------------------------------
def tcp_reuseport(port: int, served: mp.Value) -> None:  # type: ignore[valid-type]
    listener = bound(socket.SOCK_STREAM, port, True)
    while True:
        conn, _ = listener.accept()
        conn.sendall(b"x")
        conn.close()
        served.value += 1  # type: ignore[attr-defined]


def tcp_acceptor(port: int, channels: list[socket.socket]) -> None:
    listener = bound(socket.SOCK_STREAM, port, False)
    turn = 0
    while True:
        conn, _ = listener.accept()
        socket.send_fds(channels[turn % len(channels)], [b"c"], [conn.fileno()])
        conn.close()
        turn += 1


def tcp_handed(channel: socket.socket, served: mp.Value) -> None:  # type: ignore[valid-type]
    while True:
        _, fds, _, _ = socket.recv_fds(channel, 1, 1)
        conn = socket.socket(fileno=fds[0])
        conn.sendall(b"x")
        conn.close()
        served.value += 1  # type: ignore[attr-defined]


def udp_reuseport(port: int, served: mp.Value) -> None:  # type: ignore[valid-type]
    sock = bound(socket.SOCK_DGRAM, port, True)
    while True:
        sock.recvfrom(2048)
        served.value += 1  # type: ignore[attr-defined]


def udp_acceptor(port: int, channels: list[socket.socket]) -> None:
    sock = bound(socket.SOCK_DGRAM, port, False)
    turn = 0
    while True:
        data, (host, peer_port) = sock.recvfrom(2048)
        channels[turn % len(channels)].send(f"{host}:{peer_port}\n".encode() + data)
        turn += 1


def udp_handed(channel: socket.socket, served: mp.Value) -> None:  # type: ignore[valid-type]
    while True:
        channel.recv(4096)
        served.value += 1  # type: ignore[attr-defined]


# -- load -------------------------------------------------------------------------------------------
def tcp_load(port: int, seconds: float) -> int:
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.create_connection((HOST, port)) as conn:
            conn.recv(1)
        done += 1
    return done


def udp_load(port: int, seconds: float) -> int:
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]
    request = b"\x00\x01pxelinux.0\x00octet\x00blksize\x001468\x00"
    sent, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sender in senders:
            sender.sendto(request, (HOST, port))
        sent += len(senders)
        time.sleep(0.0005)  # about the rate one client process can offer without only measuring drops
    for sender in senders:
        sender.close()
    return sent


def run(mode: str, kind: int, seconds: float, clients: int) -> dict[str, float]:
    ctx = mp.get_context("fork")
    port = free_port(kind)
    counters = [ctx.Value("q", 0, lock=False) for _ in range(WORKERS)]
    procs = []
    if mode == "reuseport":
        target = tcp_reuseport if kind == socket.SOCK_STREAM else udp_reuseport
        procs = [ctx.Process(target=target, args=(port, c)) for c in counters]
    else:
        pair_kind = socket.SOCK_STREAM if kind == socket.SOCK_STREAM else socket.SOCK_DGRAM
        pairs = [socket.socketpair(socket.AF_UNIX, pair_kind) for _ in range(WORKERS)]
        handed = tcp_handed if kind == socket.SOCK_STREAM else udp_handed
        acceptor = tcp_acceptor if kind == socket.SOCK_STREAM else udp_acceptor
        procs = [ctx.Process(target=handed, args=(b, c)) for (_, b), c in zip(pairs, counters, strict=True)]
        procs.append(ctx.Process(target=acceptor, args=(port, [a for a, _ in pairs])))
    for proc in procs:
        proc.start()
    time.sleep(0.3)  # the servers bind; a bench, not a test: a fixed settle time is fine here
    load: Callable[[int, float], int] = tcp_load if kind == socket.SOCK_STREAM else udp_load
    cpu_before = sum(cpu_seconds(p.pid) for p in procs)  # type: ignore[arg-type]
    with ctx.Pool(clients) as pool:
        offered = sum(pool.starmap(load, [(port, seconds)] * clients))
    time.sleep(0.2)  # let the servers drain what is queued
    served = sum(c.value for c in counters)
    cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before  # type: ignore[arg-type]
    split = [c.value for c in counters]
    for proc in procs:
        os.kill(proc.pid, signal.SIGTERM)  # type: ignore[arg-type]
        proc.join(5)
    return {"offered": offered, "served": served, "per_s": served / seconds,
            "cpu_us": cpu / max(served, 1) * 1e6, "split": split}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    args = parser.parse_args()
    print(f"| load | mode | served/s | server CPU per item (us) | served / offered | per worker | "
          f"({os.cpu_count()} cores, {args.clients} client processes, {args.seconds:.0f} s)")
    print("|---|---|---|---|---|---|")
    for label, kind in (("TCP connect+1 byte", socket.SOCK_STREAM), ("UDP datagrams", socket.SOCK_DGRAM)):
        for mode in ("reuseport", "handoff"):
            r = run(mode, kind, args.seconds, args.clients)
            print(f"| {label} | {mode} | {r['per_s']:,.0f} | {r['cpu_us']:.1f} | "
                  f"{r['served']:,.0f} / {r['offered']:,.0f} | {r['split']} |")


if __name__ == "__main__":
    main()
