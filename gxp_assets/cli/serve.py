"""`gxp serve`: the review console in a browser, on loopback unless told otherwise (see gxp_assets/console)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gxp_assets.cli.common import EXIT_OK, CliError


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gxp_assets.console.app import create_app
    from gxp_assets.console.auth import instance_secret
    from gxp_assets.stores.local import default_home, key_folder

    keys = Path(args.keys) if args.keys else key_folder()
    if not keys.is_dir():
        raise CliError(f"no key folder {keys}: people's private keys are read from there (--keys)")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"gxp serve: listening on {args.host}, not loopback: put it behind TLS (--secure-cookie)",
              file=sys.stderr)  # fmt: skip
    app = create_app(keys, instance_secret(default_home()), args.session_minutes, args.secure_cookie,
                     args.verify_seconds)  # fmt: skip
    print(f"review console on http://{args.host}:{args.port} (keys from {keys}); Ctrl-C stops it", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="the review console: reviewer queue, adjudication, approver inbox")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s, loopback)")
    serve.add_argument("--port", type=int, default=8765, help="port (default %(default)s)")
    serve.add_argument("--keys", help="folder of people's private keys USER.pem (default GXP_HOME/keys)")
    serve.add_argument("--session-minutes", type=int, default=30,
                       help="a session expires this long after login (default %(default)s)")  # fmt: skip
    serve.add_argument("--verify-seconds", type=float, default=60.0,
                       help="verify the results index against the audit trail again after this long, and whenever "
                            "a batch changes (default %(default)s; 0: on every request)")  # fmt: skip
    serve.add_argument("--secure-cookie", action="store_true", help="mark the session cookie Secure (behind TLS)")
    serve.set_defaults(handler=cmd_serve)
