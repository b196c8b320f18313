"""Settings from the command line and the environment (SPEC section 2)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


def _list(value: str | None) -> tuple[str, ...]:
    """A comma- or space-separated list."""
    return tuple(part for part in (value or "").replace(",", " ").split() if part)


def _default_data_dir() -> Path:
    # When run as root the embedded cluster runs as user postgres, which
    # cannot enter /root: keep its data under /var/lib instead.
    if os.geteuid() == 0:
        return Path("/var/lib/pg-workflow")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pg-workflow"


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    host: str = "0.0.0.0"
    port: int = 3042
    enable_poller: bool = True
    default_app_id: str = "default"
    data_dir: Path = Path("/var/lib/pg-workflow")
    k8s_api_server: str = "https://kubernetes.default.svc"
    k8s_admin_service_account: str | None = None
    k8s_service_account_dir: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount")
    max_body_bytes: int = 32 * 1024 * 1024
    pool_min_size: int = 2
    pool_max_size: int = 20
    # Multi-tenant mode: how long a successful TokenReview is trusted, and the cache bound.
    auth_cache_seconds: float = 300.0
    auth_cache_entries: int = 10_000
    k8s_review_timeout: float = 5.0
    # Outbound policy for deliveries (service/outbound.py): CIDR lists.
    handler_allow_networks: tuple[str, ...] = ()
    handler_deny_networks: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {
            "database_url": env.get("DATABASE_URL") or None,
            "host": env.get("HOST") or "0.0.0.0",
            "port": int(env.get("PORT") or 3042),
            "enable_poller": _bool(env.get("WF_ENABLE_POLLER"), True),
            "default_app_id": env.get("WF_DEFAULT_APP_ID") or "default",
            "data_dir": Path(env["PGW_DATA_DIR"]) if env.get("PGW_DATA_DIR") else _default_data_dir(),
            "k8s_api_server": env.get("K8S_API_SERVER") or "https://kubernetes.default.svc",
            "k8s_admin_service_account": env.get("K8S_ADMIN_SERVICE_ACCOUNT") or None,
            "k8s_service_account_dir": Path(
                env.get("K8S_SERVICE_ACCOUNT_DIR") or "/var/run/secrets/kubernetes.io/serviceaccount"
            ),
            "max_body_bytes": int(env.get("WF_MAX_BODY_BYTES") or 32 * 1024 * 1024),
            "pool_min_size": int(env.get("WF_DB_POOL_MIN") or 2),
            "pool_max_size": int(env.get("WF_DB_POOL_MAX") or 20),
            # Never longer than 5 minutes: a revoked token must stop working soon.
            "auth_cache_seconds": min(300.0, float(env.get("WF_AUTH_CACHE_SECONDS") or 300)),
            "auth_cache_entries": int(env.get("WF_AUTH_CACHE_ENTRIES") or 10_000),
            "k8s_review_timeout": float(env.get("K8S_TOKEN_REVIEW_TIMEOUT_SECONDS") or 5),
            "handler_allow_networks": _list(env.get("WF_HANDLER_ALLOW_NETWORKS")),
            "handler_deny_networks": _list(env.get("WF_HANDLER_DENY_NETWORKS")),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def multi_tenant(self) -> bool:
        """A service-account token file means we run in Kubernetes with many tenants."""
        return (self.k8s_service_account_dir / "token").exists()


def _seconds(env: dict[str, str], name: str, default: float, unit: float = 1.0) -> float:
    raw = env.get(name, "")
    try:
        value = float(raw) * unit if raw != "" else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0, not {raw!r}")
    return value


_DAY = 86400.0


@dataclass(frozen=True)
class RetentionSettings:
    """WF_RETENTION_* (README, Retention): ages in seconds; 0 keeps that kind of data forever."""

    interval: float = 300.0  # 0: no retention job on this replica
    runs: float = 30 * _DAY
    dead_letters: float = 14 * _DAY
    delivered: float = 3600.0  # the idempotency window (WF_QUEUE_RETENTION_SECONDS)
    health_checks: float = 3600.0
    batch: int = 500

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RetentionSettings:
        env = dict(os.environ if env is None else env)
        settings = cls(
            interval=_seconds(env, "WF_RETENTION_INTERVAL_SECONDS", cls.interval),
            runs=_seconds(env, "WF_RETENTION_RUN_DAYS", cls.runs, _DAY),
            dead_letters=_seconds(env, "WF_RETENTION_DEAD_LETTER_DAYS", cls.dead_letters, _DAY),
            delivered=_seconds(env, "WF_QUEUE_RETENTION_SECONDS", cls.delivered),
            health_checks=_seconds(env, "WF_RETENTION_HEALTH_CHECK_SECONDS", cls.health_checks),
            batch=int(_seconds(env, "WF_RETENTION_BATCH", cls.batch)),
        )
        if not 1 <= settings.batch <= 100000:
            raise ValueError("WF_RETENTION_BATCH must be between 1 and 100000")
        return settings
