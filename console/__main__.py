"""Command line of the trainer console.

* ``python -m console [--host 127.0.0.1] [--port 8001]`` serves the web app (what the launcher runs).
* ``python -m console create-user NAME --role trainer|admin [--password-stdin]`` creates an
  account; without ``--password-stdin`` the password is asked twice at a prompt (never an argument,
  so it stays out of the shell history and the process list).
* ``python -m console set-password NAME [--password-stdin]`` sets a new password.

Exit status 0 on success, 1 on a refused request (message on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from typing import Sequence

from console.auth import AuthError
from console.settings import SettingsError, get_settings
from console.store import ROLES, StoreError


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码（至少 10 位）：")
    if getpass.getpass("再输入一次：") != first:
        raise ValueError("两次输入的密码不一致")
    return first


def _authenticator():
    from console.auth import Authenticator, load_secret
    from console.store import Store

    settings = get_settings()
    store = Store(settings.database_url)
    return Authenticator(store, settings, load_secret(settings))


def serve(host: str, port: int) -> int:
    from aiohttp import web

    from console.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_settings()
    if not settings.rasa_api_token:
        logging.getLogger("console").warning(
            "RASA_API_TOKEN is not set: 'try a sentence' and model activation are unavailable"
        )
    web.run_app(
        create_app(settings),
        host=host,
        port=port,
        access_log=None,
        print=lambda *_: logging.getLogger("console").info("trainer console on http://%s:%s/", host, port),
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console", description="人社小助手 trainer console")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    commands = parser.add_subparsers(dest="command")
    create = commands.add_parser("create-user", help="create an account")
    create.add_argument("name")
    create.add_argument("--role", choices=ROLES, default="trainer")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    password = commands.add_parser("set-password", help="set a new password")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true")
    args = parser.parse_args(argv)

    try:
        if args.command is None:
            return serve(args.host, args.port)
        auth = _authenticator()
        secret = _read_password(args.password_stdin)
        if args.command == "create-user":
            auth.create_user(args.name, secret, args.role)
            print(f"created {args.role} {args.name}")
        else:
            auth.set_password(args.name, secret)
            print(f"password of {args.name} changed")
        return 0
    except (AuthError, StoreError, SettingsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
