"""Entry point of the `sockdash` command and of `python -m webapp`.

For the server, gevent's monkey-patching comes first, before anything imports socket,
ssl or threading through Flask (webapp/__init__.py keeps itself free of such imports for
this reason). The `sockdash tftp` client needs neither gevent nor Flask: it skips both
and starts in a fraction of the time (bench/tftp.py times it).
"""

import sys


def main() -> int:
    if sys.argv[1:2] == ["tftp"]:
        from .tftp_cli import main as tftp_client

        return tftp_client(sys.argv[2:])
    from gevent import monkey

    monkey.patch_all()
    from .cli import main as run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
