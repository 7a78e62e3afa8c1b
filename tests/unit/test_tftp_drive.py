"""The one TFTP drive loop: a server transfer and the client, each on its own gevent socket,
driven by TftpDrive against each other in-process."""

import io
import os
import time

import gevent
from gevent import socket

from sockets_core.packetlog import PacketLog
from sockets_core.servers.tftp_drive import TftpDrive
from sockets_core.tftp.client import TftpClient
from sockets_core.tftp.packets import RRQ, Request, decode, encode_error
from sockets_core.tftp.transfer import ReadTransfer
from sockets_core.traffic import ServiceTap

HOST = "127.0.0.1"


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    return sock


def test_a_download_through_two_drives_taps_every_packet_and_reports_progress() -> None:
    payload = os.urandom(5000)
    log = PacketLog()
    server_tap, client_tap = ServiceTap("tftp", "udp", log), ServiceTap("tools", "udp", log)
    received = io.BytesIO()
    client = TftpClient(RRQ, "boot.img", blksize=1024, write=received.write)
    with udp() as well_known, udp() as client_sock, udp() as transfer_sock:
        client_drive = TftpDrive(client_sock, client_tap)
        job = gevent.spawn(client_drive.run, client, client.start(time.monotonic()), server=well_known.getsockname())
        with gevent.Timeout(10):
            request_bytes, address = well_known.recvfrom(600)
        request = decode(request_bytes)
        assert isinstance(request, Request)
        transfer = ReadTransfer(request, io.BytesIO(payload).read, len(payload))
        progress: list[int] = []
        server_drive = TftpDrive(transfer_sock, server_tap, peer=address, limit_errors=True, quiet_send_errors=True)
        with gevent.Timeout(10):
            server_drive.run(transfer, transfer.start(time.monotonic()), request_size=len(request_bytes),
                             on_progress=progress.append)
            job.get()
        transfer_address = transfer_sock.getsockname()
    assert client.error is None and transfer.error is None and received.getvalue() == payload
    assert sum(progress) == len(payload) and all(n > 0 for n in progress)
    assert client_drive.peer == transfer_address  # the partner: the port the answers came from
    # OACK + 5 DATA out, ACK 0-5 in, on the server's transfer port; the client the other way round
    tftp_events = log.events(service="tftp")
    assert [e.direction for e in tftp_events].count("out") == 6 and [e.direction for e in tftp_events].count("in") == 6
    assert server_tap.counters.packets_out == 6 and server_tap.counters.packets_in == 6
    assert client_tap.counters.packets_out == 7  # the RRQ too
    assert {e.local for e in tftp_events} == {transfer_address}


class WaitsForOnePacket:
    """A machine that is done at the first datagram from its partner."""

    done = False
    bytes_moved = 0

    def get_timer(self) -> float | None:
        return time.monotonic() + 10

    def handle_timer(self, now: float) -> list[bytes]:
        return []

    def receive(self, data: bytes, now: float) -> list[bytes]:
        self.done = True
        return [encode_error(0, "a long answer that is longer than the packet it answers")]

    @staticmethod
    def wrong_source_reply() -> bytes:
        return encode_error(5, "Unknown transfer ID")


def test_a_stranger_gets_the_wrong_source_reply_never_larger_than_its_datagram_and_changes_nothing() -> None:
    with udp() as ours, udp() as partner, udp() as stranger:
        machine = WaitsForOnePacket()
        drive = TftpDrive(ours, peer=partner.getsockname(), limit_errors=True)
        running = gevent.spawn(drive.run, machine, [])
        stranger.sendto(b"\x00\x04\x00\x01\x00\x00", ours.getsockname())
        with gevent.Timeout(5):
            answer = stranger.recv(100)
        assert answer[:4] == b"\x00\x05\x00\x05" and len(answer) == 6  # cut to the 6 bytes it answers
        assert not machine.done
        partner.sendto(b"\x00\x04\x00\x01", ours.getsockname())
        with gevent.Timeout(5):
            running.get()
            reply = partner.recv(100)
        assert machine.done and reply[:4] == b"\x00\x05\x00\x00" and len(reply) == 5  # the bare ERROR
        client_drive = TftpDrive(stranger, peer=partner.getsockname())  # a client's drive cuts nothing
        client_drive.send_all([WaitsForOnePacket.wrong_source_reply()], ours.getsockname(), 4)
        with gevent.Timeout(5):
            assert ours.recv(100) == WaitsForOnePacket.wrong_source_reply()


def test_send_all_answers_a_repeated_request_to_the_partner_and_fits_it() -> None:
    log = PacketLog()
    with udp() as ours, udp() as partner:
        drive = TftpDrive(ours, ServiceTap("tftp", "udp", log), peer=partner.getsockname(), limit_errors=True)
        drive.send_all([b"\x00\x06blksize\x001024\x00", encode_error(1, "File not found")], limit=9)
        with gevent.Timeout(5):
            assert partner.recv(100) == b"\x00\x06blksize\x001024\x00"  # not an ERROR: as it is
            assert partner.recv(100) == encode_error(1, "File")  # cut to 9 bytes
        assert [e.length for e in log.events()] == [len(b"\x00\x06blksize\x001024\x00"), 9]
