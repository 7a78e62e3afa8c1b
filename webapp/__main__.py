"""Entry point of the `sockdash` command and of `python -m webapp`.

gevent's monkey-patching comes first, before anything imports socket, ssl or threading
through Flask (webapp/__init__.py keeps itself free of such imports for this reason).
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402


def main() -> int:
    if sys.argv[1:2] == ["tftp"]:  # the client needs none of Flask: start fast
        from .tftp_cli import main as tftp_client

        return tftp_client(sys.argv[2:])
    from .cli import main as run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
