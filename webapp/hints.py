"""How to reach each service from a shell or a course-style Python script.

The host is the one the visitor should give to others on the LAN: the address the
browser used, unless that is loopback, in which case the machine's first LAN address.
"""

from __future__ import annotations

import ipaddress

from sockets_core.netinfo import url_host


def advertised_host(request_host: str, lan: list[str]) -> str:
    """``request_host`` is the host the browser used, without port or brackets."""
    host = request_host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback and lan:
        return lan[0]
    return host


def hints(service: str, host: str, port: int, example: str, http_port: int) -> list[dict[str, str]]:
    """A list of {label, command} for one service."""
    h, uh = host, url_host(host)
    if service == "http":
        return [{"label": "download with curl", "command": f"curl -O http://{uh}:{port}/files/{example}"}]
    if service == "tcp_chat":
        return [
            {"label": "netcat", "command": f"nc {h} {port}"},
            {"label": "Python", "command": "import socket\n"
             f"s = socket.create_connection(('{h}', {port}))\n"
             "s.send('你好'.encode('utf-8')); print(s.recv(1024).decode('utf-8'))"},
        ]
    if service == "udp_chat":
        return [
            {"label": "netcat", "command": f"nc -u {h} {port}"},
            {"label": "Python", "command": "import socket\n"
             "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             f"s.sendto('你好'.encode('utf-8'), ('{h}', {port})); print(s.recvfrom(1024))"},
        ]
    if service == "file":
        return [
            {"label": "netcat", "command": f"printf '{example}' | nc {h} {port} > {example}"},
            {"label": "Python", "command": "import socket\n"
             f"s = socket.create_connection(('{h}', {port})); s.send(b'{example}')\n"
             f"open('{example}', 'wb').write(b''.join(iter(lambda: s.recv(65536), b'')))"},
        ]
    if service == "tftp":
        return [
            {"label": "tftp-hpa", "command": f"tftp {h} {port} -c get {example}"},
            {"label": "curl", "command": f"curl -O tftp://{uh}:{port}/{example}"},
            {"label": "Python", "command": "import socket\n"
             "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             f"s.sendto(b'\\x00\\x01{example}\\x00octet\\x00', ('{h}', {port})); print(s.recvfrom(1024))"},
        ]
    if service == "syslog":  # point a switch at us: "logging host H transport udp port P" on Cisco
        return [
            {"label": "logger (util-linux)", "command": f"logger --server {h} --port {port} --udp --rfc5424 hello"},
            {"label": "Cisco IOS", "command": f"logging host {h} transport udp port {port}"},
        ]
    raise KeyError(service)
