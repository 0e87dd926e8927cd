"""Settings: every knob of the service, typed and validated. Nothing else reads os.environ."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import limits
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MiB = 1024 * 1024
REPO_WEB_VENDOR_DIR = (
    Path(__file__).resolve().parents[2] / "web/node_modules/@google/model-viewer/dist"
)
"""Where `npm ci --prefix web` puts the 3D viewer in a source checkout."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDIS_SCHEMES = ("redis", "rediss", "unix")
UNSHOWN = frozenset({"API_KEY", "API_KEYS", "ADMIN_API_KEY", "SECRET_KEY", "FAL_KEY", "REDIS_URL"})
"""Settings whose values never appear in an error message (secrets, or URLs that hold one)."""


class SettingsError(Exception):
    """A setting that cannot be used, said in one line for the operator."""


class Settings(BaseSettings):
    """Configuration from the environment (and `.env`); one instance is passed everywhere."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", case_sensitive=True, extra="ignore"
    )

    # Authentication
    API_KEY: SecretStr | None = None
    API_KEYS: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    ADMIN_API_KEY: SecretStr | None = None
    SECRET_KEY: SecretStr | None = None

    # Redis: REDIS_URL wins; without it `serve` starts a private Redis (embedded mode)
    REDIS_URL: str | None = None
    REDIS_HOST: str = "localhost"
    REDIS_PORT: int = Field(default=6379, ge=1, le=65535)

    # Providers
    FAL_KEY: SecretStr | None = None
    FAL_MODEL_ENDPOINT: str = "tripo3d/tripo/v2.5/image-to-3d"
    FAL_QUEUE_HOST: str | None = Field(
        default=None, description="fal queue host[:port][/prefix] or URL; None = fal's own"
    )
    FAL_MAX_CONCURRENCY: int = Field(default=4, ge=1, le=1000)
    FAL_POLL_INTERVAL: float = Field(default=2.0, gt=0, le=60)
    FAL_ITEM_DEADLINE: float = Field(default=1200.0, gt=0)
    FAL_MAX_RETRIES: int = Field(default=8, ge=0, le=100)
    FAL_SUBMIT_RATE_LIMIT: str | None = Field(
        default="100/minute", description="paid submits per fal account, all workers together"
    )
    FAL_REQUEST_TIMEOUT: float = Field(default=60.0, gt=0)
    FAL_API_HOST: str | None = Field(
        default=None, description="fal platform API host[:port] or URL (prices); None = fal's own"
    )
    FAL_PRICES: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    FAL_PRICES_MAX_AGE: float = Field(default=6 * 3600.0, gt=0)
    MAX_COST_PER_JOB: float | None = Field(default=None, gt=0)
    DEFAULT_PROVIDER: str | None = None
    PROVIDER_PLUGINS: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)

    # Storage
    DATA_DIR: Path = Path("./data")
    UPLOAD_DIR: Path | None = None
    RESULTS_DIR: Path | None = None
    MAX_UPLOAD_SIZE: int = Field(default=10 * MiB, gt=0)
    MAX_FILES_PER_UPLOAD: int = Field(default=25, ge=1, le=1000)
    MAX_IMAGE_PIXELS: int = Field(default=40_000_000, gt=0)
    ASSIMP_COMMAND: str | None = Field(
        default=None, description="assimp tool for FBX; None = beside Python, then PATH"
    )

    # Jobs
    JOB_TTL: int = Field(default=24 * 3600, gt=0, description="seconds job data lives after end")
    RESULT_RETENTION: int = Field(default=24 * 3600, gt=0)
    DEFAULT_FACE_LIMIT: int | None = Field(default=None, ge=100, le=2_000_000)
    ITEM_MAX_ATTEMPTS: int = Field(default=3, ge=1, le=20)

    # Workers
    WORKER_CONCURRENCY: int = Field(default=2, ge=1, le=256)
    TASK_SOFT_TIME_LIMIT: int = Field(default=1500, gt=0)
    TASK_TIME_LIMIT: int = Field(default=1800, gt=0)
    TASK_RATE_LIMIT: str | None = None
    LEASE_SECONDS: float = Field(default=10.0, gt=0)
    BROKER_VISIBILITY_TIMEOUT: int = Field(default=600, gt=0)

    # HTTP
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    SSE_KEEPALIVE_SECONDS: float = Field(default=15.0, gt=0)
    SSE_LISTENER_BUFFER: int = Field(
        default=256, ge=1, le=100_000, description="events held for a stream's slow reader"
    )
    PROGRESS_MIN_INTERVAL: float = Field(default=0.25, ge=0)
    STREAM_TOKEN_TTL: int = Field(default=24 * 3600, gt=0)
    DOWNLOAD_TOKEN_TTL: int = Field(default=3600, gt=0)
    ANONYMOUS_STREAMS: bool = False
    PUBLIC_BASE_URL: str | None = Field(
        default=None, description="e.g. https://models.example.com: links become absolute"
    )
    CORS_ORIGINS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    TRUSTED_PROXIES: Annotated[list[str], NoDecode] = Field(default_factory=list)
    RATE_LIMIT_PER_MINUTE: int = Field(default=60, ge=0)
    RATE_LIMIT_PER_HOUR: int = Field(default=1000, ge=0)
    MAX_ACTIVE_JOBS_PER_KEY: int = Field(default=20, ge=0)
    UPLOAD_DECODE_CONCURRENCY: int = Field(default=2, ge=1, le=64)
    WEB_VENDOR_DIR: Path | None = Field(
        default=None, description="the web page's 3D viewer (model-viewer's dist directory)"
    )

    LOG_LEVEL: str = "INFO"

    # Operations: log files, retention and system health thresholds
    LOG_DIR: Path | None = None
    LOG_MAX_BYTES: int = Field(default=50 * MiB, ge=1024)
    LOG_BACKUP_COUNT: int = Field(default=5, ge=1, le=100)
    LOG_RETENTION_DAYS: int = Field(default=30, ge=1)
    HEALTH_WARNING_PERCENT: float = Field(default=85.0, gt=0, le=100)
    HEALTH_CRITICAL_PERCENT: float = Field(default=95.0, gt=0, le=100)

    @field_validator("API_KEYS", mode="before")
    @classmethod
    def _parse_key_list(cls, value: object) -> object:
        """`name:key,name2:key2` (a bare `key` gets a generated name)."""
        if not isinstance(value, str):
            return value
        keys: dict[str, str] = {}
        for index, entry in enumerate(filter(None, (e.strip() for e in value.split(",")))):
            name, sep, key = entry.partition(":")
            if not sep:
                name, key = f"key{index + 1}", name
            if not key.strip():
                raise ValueError(f"API_KEYS entry {name!r} has an empty key")
            keys[name.strip()] = key.strip()
        return keys

    @field_validator("PROVIDER_PLUGINS", mode="before")
    @classmethod
    def _parse_plugins(cls, value: object) -> object:
        """`name=package.module:factory,…`: extra providers, each built as `factory(settings)`."""
        if not isinstance(value, str):
            return value
        plugins = {}
        for entry in filter(None, (e.strip() for e in value.split(","))):
            name, sep, target = entry.partition("=")
            if not sep or ":" not in target:
                raise ValueError(f"PROVIDER_PLUGINS entry {entry!r} is not name=module:factory")
            plugins[name.strip()] = target.strip()
        return plugins

    @field_validator("FAL_PRICES", mode="before")
    @classmethod
    def _parse_prices(cls, value: object) -> object:
        """`endpoint=usd,…`: the price of one request, in place of what fal's API says."""
        if not isinstance(value, str):
            return value
        prices = {}
        for entry in filter(None, (e.strip() for e in value.split(","))):
            endpoint, sep, usd = entry.partition("=")
            try:
                price = float(usd) if sep else -1.0
            except ValueError:
                price = -1.0
            if not endpoint.strip() or not price >= 0:
                raise ValueError(f"entry {entry!r} is not endpoint=price in USD (0 or more)")
            prices[endpoint.strip()] = price
        return prices

    @field_validator("CORS_ORIGINS", "TRUSTED_PROXIES", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "TASK_RATE_LIMIT",
        "DEFAULT_PROVIDER",
        "FAL_QUEUE_HOST",
        "FAL_API_HOST",
        "FAL_SUBMIT_RATE_LIMIT",
        "MAX_COST_PER_JOB",
        "ASSIMP_COMMAND",
        "PUBLIC_BASE_URL",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", "none", "off") else value

    @field_validator("FAL_SUBMIT_RATE_LIMIT")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                limits.parse(value)
            except ValueError:
                raise ValueError("must be a rate such as 100/minute, or off") from None
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("REDIS_URL", mode="before")
    @classmethod
    def _redis_scheme(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if urlsplit(str(value)).scheme not in REDIS_SCHEMES:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("PUBLIC_BASE_URL")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(
                "must be the http(s) URL clients reach this server at, such as "
                "https://models.example.com (a path is allowed, a query is not)"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_limits(self) -> Settings:
        if self.TASK_SOFT_TIME_LIMIT >= self.TASK_TIME_LIMIT:
            raise ValueError("TASK_SOFT_TIME_LIMIT must be below TASK_TIME_LIMIT")
        if self.HEALTH_WARNING_PERCENT >= self.HEALTH_CRITICAL_PERCENT:
            raise ValueError("HEALTH_WARNING_PERCENT must be below HEALTH_CRITICAL_PERCENT")
        secrets = {
            "API_KEY": self.API_KEY,
            "ADMIN_API_KEY": self.ADMIN_API_KEY,
            **{f"API_KEYS entry {name!r}": key for name, key in self.API_KEYS.items()},
        }
        for name, secret in secrets.items():
            if secret is not None and len(secret.get_secret_value()) < 16:
                raise ValueError(f"{name} must be at least 16 characters long")
        return self

    @cached_property
    def upload_dir(self) -> Path:
        return (self.UPLOAD_DIR or self.DATA_DIR / "uploads").resolve()

    @cached_property
    def results_dir(self) -> Path:
        return (self.RESULTS_DIR or self.DATA_DIR / "results").resolve()

    @property
    def data_dir(self) -> Path:
        return self.DATA_DIR.resolve()

    @property
    def log_dir(self) -> Path:
        return (self.LOG_DIR or self.DATA_DIR / "logs").resolve()

    @property
    def web_vendor_dir(self) -> Path:
        return (self.WEB_VENDOR_DIR or REPO_WEB_VENDOR_DIR).resolve()

    @property
    def redis_url(self) -> str:
        return self.REDIS_URL or f"redis://{self.REDIS_HOST}:{self.REDIS_PORT}/0"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.API_KEY or self.API_KEYS or self.ADMIN_API_KEY)

    @property
    def fal_configured(self) -> bool:
        return self.FAL_KEY is not None and bool(self.FAL_KEY.get_secret_value())

    @property
    def default_provider(self) -> str:
        if self.DEFAULT_PROVIDER:
            return self.DEFAULT_PROVIDER
        return "fal" if self.fal_configured else "local"


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment and `.env`; SettingsError in one line if one is bad."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(describe(error)) from None


def describe(error: ValidationError) -> str:
    """The first problem as `NAME='value': what is allowed`, never showing a secret."""
    problems = error.errors(include_url=False)
    first = problems[0]
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    if not first["loc"]:  # a rule across settings: its message names them
        return f"{message}{more}"
    name = str(first["loc"][0])
    shown = "" if name in UNSHOWN else f"={str(first.get('input'))[:80]!r}"
    return f"{name}{shown}: {message}{more}"
