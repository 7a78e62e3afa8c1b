"""Entry point of the `sockdash` command and of `python -m webapp`.

For the server, gevent's monkey-patching comes first, before anything imports socket,
ssl or threading through Flask (webapp/__init__.py keeps itself free of such imports for
this reason). The `sockdash tftp` client needs neither gevent nor Flask: it skips both
and starts in a fraction of the time (bench/tftp.py times it).
"""

import os
import sys


def _workers_wanted(argv: list[str]) -> int:
    """--workers N, read before anything imports gevent; 1 in a worker itself (webapp.workers sets
    SOCKDASH_WORKER) or when a flag is bad (the one-process path then names the problem)."""
    from sockets_core.settings import SettingsError, parse_settings

    if os.environ.get("SOCKDASH_WORKER"):
        return 1
    try:
        return parse_settings(argv).workers
    except SettingsError:
        return 1


def main() -> int:
    if sys.argv[1:2] == ["tftp"]:
        from .tftp_cli import main as tftp_client

        return tftp_client(sys.argv[2:])
    if _workers_wanted(sys.argv[1:]) > 1:  # the supervisor of --workers N serves nothing: no gevent
        from .workers import supervise

        return supervise(sys.argv[1:])
    from gevent import monkey

    monkey.patch_all()
    from .cli import main as run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
