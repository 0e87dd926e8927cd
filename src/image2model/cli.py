"""Command line: thin adapters over the runtime, the worker and the offline pipeline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from image2model import __version__


def _serve(args: argparse.Namespace) -> int:
    from image2model import runtime

    return runtime.serve(host=args.host, port=args.port)


def _worker(args: argparse.Namespace) -> int:
    from image2model import runtime

    return runtime.run_worker(concurrency=args.concurrency, queues=args.queues, io=args.io)


def _beat(args: argparse.Namespace) -> int:
    from image2model import runtime

    return runtime.run_beat()


def _generate(args: argparse.Namespace) -> int:
    from image2model.offline import generate_command

    return generate_command(args)


def _new_key(args: argparse.Namespace) -> int:
    from image2model.api.auth import key_id, new_key

    key = new_key()
    name = args.name or "user"
    setting = "ADMIN_API_KEY" if args.admin else "API_KEYS"
    value = key if args.admin else f"{name}:{key}"
    print(key)
    print("# add to the environment or .env (append to an existing API_KEYS with a comma):")
    print(f"{setting}={value}")
    print(f"# key id (what logs and Redis show): {key_id(key)}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="image2model", description=__doc__)
    parser.add_argument("--version", action="version", version=f"image2model {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (and, without REDIS_URL, everything)")
    serve.add_argument("--host", default=None, help="bind address (default: HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: PORT, 8000)")
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run a Celery worker for REDIS_URL")
    worker.add_argument(
        "--io",
        action="store_true",
        help="the I/O worker: items of remote providers (fal), in 2 × FAL_MAX_CONCURRENCY threads",
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="processes (default: WORKER_CONCURRENCY), or threads with --io",
    )
    worker.add_argument(
        "--queues", default=None, help="comma list (default: the CPU queues, or provider_io)"
    )
    worker.set_defaults(handler=_worker)

    beat = commands.add_parser("beat", help="run the maintenance scheduler for REDIS_URL")
    beat.set_defaults(handler=_beat)

    generate = commands.add_parser("generate", help="make models from images, no server needed")
    generate.add_argument("images", nargs="+", help="image files (JPEG, PNG, WebP)")
    generate.add_argument("-o", "--output", default=".", help="output directory")
    generate.add_argument("--format", default="glb", help="comma list of glb,obj,stl,ply,3mf,usdz")
    generate.add_argument("--face-limit", type=int, default=None)
    generate.add_argument("--provider", default=None, help="local or fal")
    generate.add_argument(
        "--shape",
        default=None,
        choices=("auto", "inflate", "slab", "revolve"),
        help="the offline generator's kind of shape (default: auto)",
    )
    generate.set_defaults(handler=_generate)
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    new = key_commands.add_parser("new", help="print a fresh random key and its config line")
    new.add_argument("--name", default=None, help="a name for the key (default: user)")
    new.add_argument("--admin", action="store_true", help="an admin key")
    new.set_defaults(handler=_new_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from image2model.config import SettingsError

    args = build_parser().parse_args(argv)
    try:
        code = args.handler(args)
    except SettingsError as error:
        print(f"image2model: {error}", file=sys.stderr)
        return 2
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
