"""Serve one ASGI app with the uvicorn settings every benchmark shares.

`python bench/launch.py api --port 8001` serves image2model (Settings from the environment);
`python bench/launch.py bare --port 8002` serves a minimal Starlette app returning small JSON,
the ceiling the API is compared with. Both: one process, uvloop, httptools, no access log.
"""

from __future__ import annotations

import argparse
import resource
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SERVER_SETTINGS: dict[str, Any] = {
    "host": "127.0.0.1",
    "loop": "uvloop",
    "http": "httptools",
    "workers": 1,
    "access_log": False,
    "log_level": "warning",
    "lifespan": "on",
    "backlog": 4096,
}


def bare_app() -> Starlette:
    """The smallest useful JSON endpoint: what the server stack alone can do."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "healthy", "version": "0.0.0", "uptime": 1.0})

    return Starlette(routes=[Route("/health", health)])


def api_app() -> Any:
    from image2model.api.app import create_app
    from image2model.config import Settings

    return create_app(Settings(_env_file=None))  # type: ignore[call-arg]


def raise_open_files_limit() -> None:
    """Hundreds of SSE sockets plus their Redis connections need more than 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", choices=("api", "bare"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_open_files_limit()
    app = api_app() if args.app == "api" else bare_app()
    uvicorn.run(app, port=args.port, **SERVER_SETTINGS)


if __name__ == "__main__":
    main()
