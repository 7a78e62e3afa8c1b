"""create_app: the Flask application over an already-built Services object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_sock import Sock
from werkzeug.exceptions import HTTPException

from sockets_core.services import Services

from . import api, files_api, hosts, metrics, pages, syslog_api, ws
from .auth import check_admin_paths, check_origin, is_admin
from .uploads import UploadRequest

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
WS_MAX_MESSAGE = 64 * 1024

# The pages load only their own scripts, styles and images and talk only to this host (the
# WebSockets included: 'self' covers ws:// to the same host); no inline script or style
# attribute is allowed, so an injected one does nothing. No one may frame the dashboard
# (clickjacking the admin's buttons), and no page leaks its URL to another site.
CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "no-referrer",
}


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def asset_folder(name: str) -> Path:
    """templates/ or static/: inside the package in an installed wheel (pyproject.toml maps them to
    webapp/templates and webapp/static there), else beside the package as in the checkout (an
    editable install, `python -m webapp` in the tree)."""
    packaged = PACKAGE_DIR / name
    return packaged if packaged.is_dir() else PROJECT_DIR / name


def create_app(services: Services, admin_token: str, lan: list[str] | None = None,
               test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(asset_folder("templates")),
                static_folder=str(asset_folder("static")))
    app.config.update(
        ADMIN_TOKEN=admin_token,
        LAN_ADDRESSES=list(lan or []),
        # no library ping check: the feeds ping and judge liveness themselves (webapp/feed.py)
        SOCK_SERVER_OPTIONS={"ping_interval": None, "max_message_size": WS_MAX_MESSAGE},
        SEND_FILE_MAX_AGE_DEFAULT=0,
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["sockdash"] = services
    app.request_class = UploadRequest
    files_api.configure(app)
    # "/files//etc/passwd" must reach FileStore (and be refused as absolute), not be
    # redirected to "/files/etc/passwd" by werkzeug's slash merging.
    app.url_map.merge_slashes = False
    settings = services.settings
    hosts.install(app, hosts.HostGuard(settings.allowed_hosts, settings.host, app.config["LAN_ADDRESSES"]))
    app.before_request(check_origin)
    app.before_request(check_admin_paths)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(files_api.bp)
    app.register_blueprint(syslog_api.bp)
    sock = Sock(app)
    ws.register(sock)
    syslog_api.register(sock)
    metrics.install(app, services)
    app.after_request(add_security_headers)

    @app.context_processor
    def admin_flag() -> dict[str, bool]:
        return {"admin_user": is_admin()}

    @app.context_processor
    def bus_state() -> dict[str, str]:  # the header's "bus: reconnecting" badge (--bus)
        return {"bus_state": services.bus.state()}

    @app.errorhandler(HTTPException)
    def json_errors(exc: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return jsonify(error=exc.description), exc.code
        return exc

    return app
