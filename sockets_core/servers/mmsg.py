"""Send a batch of datagrams to one address in one system call.

A TFTP window (windowsize blocks of blksize bytes, the last block perhaps shorter) goes to
one client at once. Sent one ``sendto`` at a time, each datagram costs a system call and a
trip through Python and gevent; on this machine the sendto was half of a transfer's
profile. Two Linux calls send a batch at once:

- UDP GSO (``UDP_SEGMENT``, Linux 4.18+): one ``sendmsg`` carrying the datagrams joined
  end to end and a control message with the segment size; the kernel cuts it into
  datagrams of that size, the last one may be shorter. The receiver sees separate
  datagrams (a plain socket gets them segmented; tests/unit/test_mmsg.py checks it).
  Python's ``socket.sendmsg`` carries the control message: no ctypes.
- ``sendmmsg`` (Linux 3.0+, through ctypes): one call, one message per datagram, any sizes.

Which one works is found once, at the first batch, by sending a small batch between two
loopback sockets (one INFO line says which is used); ``sendto`` one by one stays the path
where neither works (other platforms, old kernels). GSO can still be refused for one
destination (EINVAL: a segment over the route's MTU; EIO: a device without checksum
offload; EOPNOTSUPP): that sender then uses the next path for good.

Non-blocking sockets (gevent's, or a stdlib socket with a timeout): GSO goes through the
socket's own ``sendmsg``, which waits for room in the send buffer itself; a ``sendmmsg``
that meets a full buffer (EAGAIN) waits for writability (through gevent when the socket
is gevent's) and sends the rest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import select
import socket
import struct
import sys
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

SOL_UDP = getattr(socket, "SOL_UDP", 17)
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
GSO_MAX_SEGMENTS = 64  # UDP_MAX_SEGMENTS of Linux 4.18-6.x (newer kernels allow 128)
GSO_MAX_BYTES = 65000  # one IP datagram before segmentation: under 65,535 less the headers
MMSG_MAX = 1024  # UIO_MAXIOV: messages one sendmmsg takes
WRITABLE_WAIT = 5.0  # seconds a full send buffer may take to drain before the send fails
GSO_REFUSED = (errno.EINVAL, errno.EIO, errno.EOPNOTSUPP, errno.ENOPROTOOPT)

GSO, SENDMMSG, SENDTO = "gso", "sendmmsg", "sendto"

SockAddress = tuple[Any, ...]  # what recvfrom gives: (host, port) or (host, port, flow, scope)


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.POINTER(_Iovec)), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


def _load_sendmmsg() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sendmmsg
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_sendmmsg = _load_sendmmsg()


def sockaddr(family: int, address: SockAddress) -> bytes:
    """The C ``struct sockaddr_in``/``sockaddr_in6`` of a numeric address tuple (ValueError
    for anything else: a name, another family)."""
    try:
        return _sockaddr(family, address)
    except OSError as exc:  # inet_pton: not a numeric address
        raise ValueError(f"not a numeric address: {address[0]!r}") from exc


def _sockaddr(family: int, address: SockAddress) -> bytes:
    if family == socket.AF_INET:
        return struct.pack("=H", socket.AF_INET) + struct.pack("!H", address[1]) \
            + socket.inet_pton(socket.AF_INET, address[0]) + bytes(8)
    if family == socket.AF_INET6:
        flow, scope = (address[2], address[3]) if len(address) >= 4 else (0, 0)
        return struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", address[1], flow) \
            + socket.inet_pton(socket.AF_INET6, address[0].split("%")[0]) + struct.pack("=I", scope)
    raise ValueError(f"no sockaddr for family {family}")


def _wait_writable(sock: socket.socket) -> None:
    """Until ``sock`` can take a datagram again; TimeoutError after WRITABLE_WAIT."""
    gevent_socket = sys.modules.get("gevent.socket")  # never imported here: the CLI runs without gevent
    if gevent_socket is not None and isinstance(sock, gevent_socket.socket):
        gevent_socket.wait_write(sock.fileno(), timeout=WRITABLE_WAIT,
                                 timeout_exc=TimeoutError("send buffer full"))
        return
    _, writable, _ = select.select([], [sock.fileno()], [], WRITABLE_WAIT)
    if not writable:
        raise TimeoutError("send buffer full")


def send_mmsg(sock: socket.socket, packets: Sequence[bytes], address: SockAddress) -> int:
    """Send ``packets`` to ``address`` by sendmmsg, waiting for room when the buffer is
    full; how many went (all, unless an error stops it: then OSError if none went)."""
    count = len(packets)
    name = ctypes.create_string_buffer(sockaddr(sock.family, address))
    iovecs = (_Iovec * count)()
    messages = (_Mmsghdr * count)()
    buffers = [ctypes.c_char_p(packet) for packet in packets]  # no copy: points into the bytes
    for i, packet in enumerate(packets):
        iovecs[i].iov_base = ctypes.cast(buffers[i], ctypes.c_void_p)
        iovecs[i].iov_len = len(packet)
        header = messages[i].msg_hdr
        header.msg_name = ctypes.cast(name, ctypes.c_void_p)
        header.msg_namelen = len(name.raw)
        header.msg_iov = ctypes.pointer(iovecs[i])
        header.msg_iovlen = 1
    sent = 0
    while sent < count:
        chunk = min(count - sent, MMSG_MAX)
        result = _sendmmsg(sock.fileno(), ctypes.addressof(messages) + sent * ctypes.sizeof(_Mmsghdr), chunk, 0)
        if result < 0:
            code = ctypes.get_errno()
            if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                if code != errno.EINTR:
                    _wait_writable(sock)
                continue
            if sent:
                return sent  # the caller hears of the error when it sends the rest
            raise OSError(code, f"sendmmsg: {errno.errorcode.get(code, code)}")
        sent += result
    return sent


def _gso_runs(packets: Sequence[bytes]) -> list[tuple[int, int]]:
    """Split ``packets`` into (start, end) runs one GSO send can carry: equal sizes, the
    last perhaps shorter, within the segment and byte limits."""
    runs = []
    start = 0
    while start < len(packets):
        size = len(packets[start])
        most = max(1, min(GSO_MAX_SEGMENTS, GSO_MAX_BYTES // max(size, 1)))
        end = start + 1
        while end < len(packets) and end - start < most and len(packets[end]) == size:
            end += 1
        if end < len(packets) and end - start < most and 0 < len(packets[end]) < size:
            end += 1  # a shorter last segment is allowed
        runs.append((start, end))
        start = end
    return runs


def send_gso(sock: socket.socket, packets: Sequence[bytes], address: SockAddress) -> None:
    """One sendmsg with UDP_SEGMENT: ``packets`` must be one of _gso_runs' runs."""
    segment = struct.pack("=H", len(packets[0]))
    sock.sendmsg([b"".join(packets)], [(SOL_UDP, UDP_SEGMENT, segment)], 0, address)


def _probe(method: str) -> bool:
    """Whether ``method`` delivers a batch of two datagrams (4 and 3 bytes) over loopback
    as two datagrams of those sizes."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            receiver.bind(("127.0.0.1", 0))
            receiver.settimeout(1.0)
            packets = [b"gso1", b"end"]
            if method == GSO:
                send_gso(sender, packets, receiver.getsockname())
            else:
                send_mmsg(sender, packets, receiver.getsockname())
            return [receiver.recv(64), receiver.recv(64)] == packets
    except (OSError, ValueError):
        return False


_detected: str | None = None


def detect() -> str:
    """The best path this system has (found once, silently: ``describe`` says which, logged
    once every service is up, so a start that fails still prints only its one line)."""
    global _detected
    if _detected is None:
        if _probe(GSO):
            _detected = GSO
        elif _sendmmsg is not None and _probe(SENDMMSG):
            _detected = SENDMMSG
        else:
            _detected = SENDTO
    return _detected


def describe() -> str:
    return "udp batches: sent by " + {GSO: "UDP GSO (one sendmsg with UDP_SEGMENT a batch)",
                                      SENDMMSG: "sendmmsg (one call a batch; no UDP GSO here)",
                                      SENDTO: "sendto (one call a datagram; no GSO nor sendmmsg here)"}[detect()]


def force(method: str | None) -> None:
    """Use ``method`` from now on (tests of the fallbacks); None: detect again."""
    global _detected
    _detected = method


class BatchSender:
    """Sends batches from one socket. ``send(packets, to)`` returns how many of them (a
    prefix) went before an error, and that error (None when all went)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.method = detect()
        # gevent's socket wraps a real non-blocking one: a datagram goes out through it directly
        # (one Python call less a lock-step block); only a full send buffer goes the gevent way.
        # gevent's own class only: a subclass may send its own way (the tests' failing socket)
        self._raw: Any = getattr(sock, "_sock", None) if type(sock).__module__.startswith("gevent.") else None

    def send(self, packets: Sequence[bytes], to: SockAddress) -> tuple[int, OSError | None]:
        if len(packets) == 1 or self.method == SENDTO:
            return self._one_by_one(packets, to)
        if self.method == SENDMMSG:
            return self._mmsg(packets, to)
        sent = 0
        for start, end in _gso_runs(packets):
            run = packets[start:end]
            try:
                if len(run) == 1:
                    self.sock.sendto(run[0], to)
                else:
                    send_gso(self.sock, run, to)
            except OSError as exc:
                if exc.errno not in GSO_REFUSED or len(run) == 1:
                    return sent, exc
                # refused for this destination or device: this sender stops trying
                log.info("udp batches to %s: GSO refused (%s), sending by %s from now on", to[0],
                         errno.errorcode.get(exc.errno or 0, exc.errno), SENDMMSG if _sendmmsg else SENDTO)
                self.method = SENDMMSG if _sendmmsg is not None else SENDTO
                more, error = self.send(packets[start:], to)
                return sent + more, error
            sent += len(run)
        return sent, None

    def _mmsg(self, packets: Sequence[bytes], to: SockAddress) -> tuple[int, OSError | None]:
        try:
            sent = send_mmsg(self.sock, packets, to)
        except ValueError:  # an address sendmmsg cannot take (not numeric): one by one
            return self._one_by_one(packets, to)
        except OSError as exc:
            return 0, exc
        if sent < len(packets):  # stopped by an error: sendto says which
            more, error = self._one_by_one(packets[sent:sent + 1], to)
            return sent + more, error
        return sent, None

    def _one_by_one(self, packets: Sequence[bytes], to: SockAddress) -> tuple[int, OSError | None]:
        raw = self._raw
        for sent, packet in enumerate(packets):
            try:
                if raw is None:
                    self.sock.sendto(packet, to)
                else:
                    try:
                        raw.sendto(packet, to)
                    except BlockingIOError:  # the send buffer is full: wait for room, as gevent does
                        self.sock.sendto(packet, to)
            except OSError as exc:
                return sent, exc
        return len(packets), None
