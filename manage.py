#!/usr/bin/env python
"""Django's command-line utility; a bad environment stops it with one line, not a traceback."""

import os
import sys


def only_asks_for_help(args: list[str]) -> bool:
    """True for a command line that runs nothing: `manage.py`, `manage.py help [command]`,
    `manage.py <command> --help` (argparse prints and exits at -h), `--version`."""
    if "--" in args:  # what follows is the command's own data, never an option of ours
        args = args[: args.index("--")]
    return not args or args[0] in {"help", "version"} or not {"-h", "--help", "--version"}.isdisjoint(args)


def main() -> None:
    if sys.version_info < (3, 12):  # noqa: UP036 - run by whatever python3 the user has
        sys.exit(f"error: Python 3.12+ is required (this is {sys.version.split()[0]}); see README")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
    if only_asks_for_help(sys.argv[1:]) and not os.environ.get("JWT_SECRET"):
        # Settings refuse to load without JWT_SECRET when DEBUG is off, and app commands (and their
        # --help) exist only once they load. Help signs and checks no token: a throwaway secret of
        # this process lets it print, with no deployment environment at hand.
        import secrets

        os.environ["JWT_SECRET"] = secrets.token_urlsafe(48)
    from django.core.management import execute_from_command_line

    from chatproject.env import EnvError

    try:
        execute_from_command_line(sys.argv)
    except EnvError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
