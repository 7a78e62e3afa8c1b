"""sockdash's web side: the Flask app factory, pages, JSON API and WebSocket routes.

``create_app`` lives in ``webapp.app`` and is loaded lazily here: the console script
imports this package before ``webapp.__main__`` runs, and gevent's monkey-patching must
come before Flask and the standard library's networking modules are imported.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
