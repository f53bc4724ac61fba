"""The ``hashwall`` command's entry point: the CLI when the server's dependencies are installed,
a clear message when they are not.

``pip install hashwall`` is the SDK alone (:mod:`hashwall.client`, :mod:`hashwall.wire`); the
command line needs ``pip install 'hashwall[server]'``. This module imports nothing but the
standard library until it knows which.
"""

from __future__ import annotations

import sys

INSTALL_SERVER = (
    "hashwall: the command line needs the server's dependencies ({missing} is not installed): "
    "pip install 'hashwall[server]'"
)


def main() -> None:
    """Run the ``hashwall`` app; without the ``server`` extra, say how to install it (exit 1)."""
    try:
        from hashwall.cli.main import app
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing == "hashwall":
            raise  # a bug of hashwall's own, not a missing extra
        sys.stderr.write(INSTALL_SERVER.format(missing=missing) + "\n")
        raise SystemExit(1) from None
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
