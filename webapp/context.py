"""Access to the process-wide objects from inside a request."""

from __future__ import annotations

from flask import current_app

from sockets_core.services import Services


def services() -> Services:
    found: Services = current_app.extensions["sockdash"]  # create_app puts the process's Services there
    return found
