#!/usr/bin/env python
"""Django's command-line utility; a bad environment stops it with one line, not a traceback."""

import os
import sys


def main() -> None:
    if sys.version_info < (3, 12):  # noqa: UP036 - run by whatever python3 the user has
        sys.exit(f"error: Python 3.12+ is required (this is {sys.version.split()[0]}); see README")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
    from django.core.management import execute_from_command_line

    from chatproject.env import EnvError

    try:
        execute_from_command_line(sys.argv)
    except EnvError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
