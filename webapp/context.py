"""Access to the process-wide objects from inside a request."""

from __future__ import annotations

from flask import current_app

from sockets_core.services import Services


def services() -> Services:
    return current_app.extensions["sockdash"]  # type: ignore[no-any-return]
