"""The Packet log's colouring rules (static/css/sockdash.css): every service's rows have a
background of their own, and every text on them keeps WCAG AA contrast (4.5:1)."""

from __future__ import annotations

import re
import socket

from playwright.sync_api import Page, expect

from tests import harness

HOST = "127.0.0.1"
AA = 4.5


def luminance(css: str) -> float:
    red, green, blue = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_service_has_a_row_colour_of_its_own_with_aa_contrast(page: Page, sockdash: harness.Sockdash) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"<13>Mar  1 00:00:00 sw1 colours: a syslog row", (HOST, sockdash.ports["syslog"]))
        u.sendto(b"a udp chat row\n", (HOST, sockdash.ports["udp_chat"]))
    with socket.create_connection((HOST, sockdash.ports["tcp_chat"]), timeout=5) as s:
        s.sendall(b"colours\n")
    page.goto(f"{sockdash.base_url}/packets")
    expect(page.locator("#live-state")).to_have_text("live")
    services = ("syslog", "udp_chat", "tcp_chat")
    for service in services:
        expect(page.locator(f'#log-rows .log-row[data-service="{service}"]').first).to_be_attached()
    styles = page.evaluate("""(services) => Object.fromEntries(services.map((service) => {
        const row = document.querySelector(`#log-rows .log-row[data-service="${service}"]`);
        const texts = [...row.querySelectorAll('span')].map((span) => getComputedStyle(span).color);
        return [service, { background: getComputedStyle(row).backgroundColor, texts }];
    }))""", list(services))
    backgrounds = {service: style["background"] for service, style in styles.items()}
    assert "rgba(0, 0, 0, 0)" not in backgrounds.values(), backgrounds  # none falls back to the page's
    assert len(set(backgrounds.values())) == len(services), backgrounds
    for service, style in styles.items():
        for color in style["texts"]:
            assert contrast(color, style["background"]) >= AA, (service, color, style["background"])
