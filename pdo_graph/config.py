"""Settings from the environment (``PDO_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str | None, default: list[str]) -> list[str]:
    if not value:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; every field comes from a ``PDO_*`` variable."""

    database_url: str | None = None
    data_dir: Path = Path(".pdo")
    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int = 8
    region_code: str = "77"
    auth_mode: str = "dev"  # dev | oidc
    dev_force: bool = False
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_algorithms: list[str] = field(default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"])
    oidc_role_claim: str = "pdo_role"
    oidc_provider_claim: str = "pdo_provider"
    oidc_municipality_claim: str = "pdo_municipality"
    oidc_machine_role: str = "PROVIDER"
    secret_key: str | None = None
    personal_data_keys: str | None = None
    introspection: bool = True
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 3000
    max_body_bytes: int = 1536 * 1024
    max_cost: int = 50_000
    cors_origins: list[str] = field(default_factory=list)
    enrollment_expiry_days: int = 5
    background_jobs: bool = True
    sync_background: bool = False
    sync_poll_seconds: float = 30.0
    sync_time_budget_seconds: float = 600.0
    sync_request_budget_seconds: float = 120.0
    sync_request_timeout: float = 15.0
    analytics_min_cell: int = 5
    analytics_max_rows: int = 5_000
    analytics_refresh_minutes: float = 60.0
    analytics_link_seconds: int = 600
    url_signing_key: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        e = dict(os.environ if env is None else env)
        return cls(
            database_url=e.get("PDO_DATABASE_URL") or None,
            data_dir=Path(e.get("PDO_DATA_DIR", ".pdo")),
            host=e.get("PDO_HOST", "127.0.0.1"),
            port=int(e.get("PDO_PORT", "8000")),
            db_pool_size=int(e.get("PDO_DB_POOL_SIZE", "8")),
            region_code=e.get("PDO_REGION_CODE", "77"),
            auth_mode=e.get("PDO_AUTH_MODE", "dev"),
            dev_force=_bool(e.get("PDO_DEV_FORCE")),
            oidc_issuer=e.get("PDO_OIDC_ISSUER") or None,
            oidc_audience=e.get("PDO_OIDC_AUDIENCE") or None,
            oidc_algorithms=_list(e.get("PDO_OIDC_ALGORITHMS"), ["RS256", "ES256", "PS256", "EdDSA"]),
            oidc_role_claim=e.get("PDO_OIDC_ROLE_CLAIM", "pdo_role"),
            oidc_provider_claim=e.get("PDO_OIDC_PROVIDER_CLAIM", "pdo_provider"),
            oidc_municipality_claim=e.get("PDO_OIDC_MUNICIPALITY_CLAIM", "pdo_municipality"),
            oidc_machine_role=e.get("PDO_OIDC_MACHINE_ROLE", "PROVIDER"),
            secret_key=e.get("PDO_SECRET_KEY") or None,
            personal_data_keys=e.get("PDO_PERSONAL_DATA_KEYS") or None,
            introspection=_bool(e.get("PDO_INTROSPECTION"), True),
            max_depth=int(e.get("PDO_MAX_DEPTH", "12")),
            max_aliases=int(e.get("PDO_MAX_ALIASES", "30")),
            max_tokens=int(e.get("PDO_MAX_TOKENS", "3000")),
            max_body_bytes=int(e.get("PDO_MAX_BODY_BYTES", str(1536 * 1024))),
            max_cost=int(e.get("PDO_MAX_COST", "50000")),
            cors_origins=_list(e.get("PDO_CORS_ORIGINS"), []),
            enrollment_expiry_days=int(e.get("PDO_ENROLLMENT_EXPIRY_DAYS", "5")),
            background_jobs=_bool(e.get("PDO_BACKGROUND_JOBS"), True),
            sync_background=_bool(e.get("PDO_SYNC_BACKGROUND")),
            sync_poll_seconds=float(e.get("PDO_SYNC_POLL_SECONDS", "30")),
            sync_time_budget_seconds=float(e.get("PDO_SYNC_TIME_BUDGET_SECONDS", "600")),
            sync_request_budget_seconds=float(e.get("PDO_SYNC_REQUEST_BUDGET_SECONDS", "120")),
            sync_request_timeout=float(e.get("PDO_SYNC_REQUEST_TIMEOUT", "15")),
            analytics_min_cell=max(1, int(e.get("PDO_ANALYTICS_MIN_CELL", "5"))),
            analytics_max_rows=int(e.get("PDO_ANALYTICS_MAX_ROWS", "5000")),
            analytics_refresh_minutes=float(e.get("PDO_ANALYTICS_REFRESH_MINUTES", "60")),
            analytics_link_seconds=int(e.get("PDO_ANALYTICS_LINK_SECONDS", "600")),
            url_signing_key=e.get("PDO_URL_SIGNING_KEY") or None,
        )
