"""Redis URLs in the two dialects in use: redis-py's and kombu's (Celery broker and backend)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def unix_socket_url(socket_path: Path, db: int = 0) -> str:
    """The redis-py URL of a Redis listening on a unix socket (`unix:///abs/path?db=0`)."""
    return f"unix://{socket_path.resolve()}?db={db}"


def celery_url(redis_url: str) -> str:
    """The same Redis as kombu spells it; only unix-socket URLs differ.

    redis-py reads `unix:///path?db=N`; kombu has no `unix` transport and reads
    `redis+socket:///path?virtual_host=N` (it ignores `db` for sockets).
    """
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    query = [
        ("virtual_host", value) if key == "db" else (key, value)
        for key, value in parse_qsl(parts.query)
    ]
    suffix = f"?{urlencode(query)}" if query else ""
    # built by hand: urlunsplit drops the `//` of an empty netloc
    return f"redis+socket://{parts.netloc}{parts.path}{suffix}"


def redacted(redis_url: str) -> str:
    """The URL with its password hidden, for banners and logs."""
    parts = urlsplit(redis_url)
    if not parts.password:
        return redis_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
