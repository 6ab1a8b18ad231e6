"""All configuration, from environment variables (the contract's names where it gives them)."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.cadence import Cadence, Cron, Interval, parse_cron, parse_zone
from app.clients.config import UpstreamSettings

if TYPE_CHECKING:
    from app.webhooks.secretbox import SecretBox

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    """``"5s,5m,30m,2h"`` as timedeltas; units ms, s, m, h, d. Raises ``ValueError``."""
    delays = []
    for part in text.split(","):
        match = _DURATION.match(part)
        if not match:
            raise ValueError(f"retry schedule entry {part.strip()!r} is not like 5s, 30m or 2h")
        delays.append(timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]]))
    return tuple(delays)


def parse_interval(text: str) -> timedelta | None:
    """``"15m"`` as a timedelta; ``"off"``, ``""`` or zero as None (not scheduled)."""
    if text.strip().lower() in ("", "off", "0", "none", "false"):
        return None
    delays = parse_schedule(text)
    if len(delays) != 1:
        raise ValueError(f"interval {text!r} is not one duration like 15m or 1h")
    every = delays[0]
    if every < timedelta(seconds=1):
        raise ValueError(f"interval {text!r} is under a second")
    return every


# What RECON_SIMULATOR=true supplies: the simulator of `recon simulate --port 8081`.
SIMULATOR_DEFAULTS = {
    "provincial_base_url": "http://127.0.0.1:8081/provincial",
    "provincial_token_url": "http://127.0.0.1:8081/provincial/oauth/token",
    "national_base_url": "http://127.0.0.1:8081/national",
    "national_token_url": "http://127.0.0.1:8081/national/oauth/token",
}


class MissingUpstreamSettings(ValueError):
    """The service cannot start: some upstream addresses are not configured."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            "upstream settings missing: "
            + ", ".join(missing)
            + ". Set them (README, Configuration), or RECON_SIMULATOR=true to use the local "
            "simulator on 127.0.0.1:8081 (`recon simulate --port 8081`)."
        )


class ProvinceSettings(BaseModel):
    """One province of a national deployment: its own P, its own credentials on N, its MaTinh.
    N's addresses default to the deployment's (one national portal)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=8, description="MaTinh on N, e.g. H53")
    name: str = ""
    provincial_base_url: str
    provincial_token_url: str
    provincial_client_id: str = "recon"
    provincial_client_secret: SecretStr = SecretStr("")
    national_base_url: str | None = None
    national_token_url: str | None = None
    national_client_id: str | None = None
    national_client_secret: SecretStr | None = None

    @field_validator("code")
    @classmethod
    def _code_is_upper(cls, value: str) -> str:
        return value.strip().upper()


def _yearly(listed: str, year: int, default: float) -> float:
    """The value for ``year`` in ``"2023:0.3,2025:0.5"``, else ``default``."""
    for part in listed.split(","):
        if ":" in part:
            listed_year, value = part.split(":", 1)
            if listed_year.strip() == str(year):
                return float(value)
    return default


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./recon.db"
    # PostgreSQL: the longest one statement of an API request may run; one that takes longer is
    # cancelled and answered 503 with Retry-After. Runs, the dispatcher and migrations have none.
    database_statement_timeout_s: float = Field(default=30, ge=0)
    # The largest request body accepted (413 beyond it, before parsing or authentication).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    recon_admin_key: SecretStr | None = None
    recon_auto_migrate: bool = True
    # A console sign-in lasts this long from the moment it was made, then asks for the key again.
    console_session_hours: float = Field(default=8, gt=0, le=24 * 30)
    # Logging (app/logs.py): every line JSON or structlog's console rendering, from this level.
    log_format: Literal["json", "console"] = "console"
    log_level: str = "INFO"
    # The upstream addresses below are required unless this supplies the local simulator's.
    recon_simulator: bool = False
    # /health/ready says "degraded" when a scope's last complete run is older than this
    # (durations like 2h; "off": not checked).
    health_max_data_age_procedures: str = "2h"
    health_max_data_age_dossiers: str = "6h"

    @field_validator("log_level")
    @classmethod
    def _level_is_known(cls, value: str) -> str:
        from app.logs import level_number

        level_number(value)
        return value.strip().upper()

    @field_validator("health_max_data_age_procedures", "health_max_data_age_dossiers")
    @classmethod
    def _max_age_parses(cls, value: str) -> str:
        parse_interval(value)
        return value

    def health_max_data_ages(self) -> dict[str, timedelta]:
        """The scopes whose data age /health/ready checks, with their maximum ages."""
        configured = {
            "procedures": parse_interval(self.health_max_data_age_procedures),
            "dossiers": parse_interval(self.health_max_data_age_dossiers),
        }
        return {scope: age for scope, age in configured.items() if age is not None}

    @model_validator(mode="after")
    def _simulator_defaults(self) -> Self:
        if self.recon_simulator:
            for name, default in SIMULATOR_DEFAULTS.items():
                if getattr(self, name) is None:
                    setattr(self, name, default)
        return self

    def missing_upstream_settings(self) -> list[str]:
        """The upstream variables a start needs and lacks (N's per province with PROVINCES)."""
        if not self.provinces:
            names = [name for name in SIMULATOR_DEFAULTS if getattr(self, name) is None]
            return [name.upper() for name in names]
        missing = []
        for name in ("national_base_url", "national_token_url"):
            if getattr(self, name) is not None:
                continue
            lacking = [p.code for p in self.provinces if getattr(p, name) is None]
            if lacking:
                missing.append(f"{name.upper()} (or {name} of province {', '.join(lacking)})")
        return missing

    def require_upstreams(self) -> None:
        """Raise ``MissingUpstreamSettings`` naming what a start lacks."""
        missing = self.missing_upstream_settings()
        if missing:
            raise MissingUpstreamSettings(missing)

    provincial_base_url: str | None = None
    provincial_token_url: str | None = None
    provincial_client_id: str = "recon"
    provincial_client_secret: SecretStr = SecretStr("")
    provincial_page_size: int = Field(default=500, ge=1, le=1000)

    national_base_url: str | None = None
    national_token_url: str | None = None
    national_client_id: str = "recon"
    national_client_secret: SecretStr = SecretStr("")
    national_page_size: int = Field(default=500, ge=1, le=500)
    national_province_code: str = "H53"

    # A national deployment lists its provinces (JSON in PROVINCES), each with its own upstream
    # settings; then the single-province settings above only lend N's defaults. Empty: the
    # deployment serves NATIONAL_PROVINCE_CODE alone.
    provinces: list[ProvinceSettings] = Field(default_factory=list)

    @field_validator("provinces")
    @classmethod
    def _codes_are_unique(cls, value: list[ProvinceSettings]) -> list[ProvinceSettings]:
        codes = [p.code for p in value]
        if len(set(codes)) != len(codes):
            raise ValueError(f"a province is listed twice: {codes}")
        return value

    def province_codes(self) -> list[str]:
        return [p.code for p in self.provinces] or [self.national_province_code]

    def for_province(self, code: str) -> Settings:
        """These settings as one province's: its upstreams and its MaTinh."""
        if not self.provinces:
            if code != self.national_province_code:
                raise KeyError(code)
            return self
        province = next((p for p in self.provinces if p.code == code), None)
        if province is None:
            raise KeyError(code)
        return self.model_copy(
            update={
                "national_province_code": province.code,
                "provincial_base_url": province.provincial_base_url,
                "provincial_token_url": province.provincial_token_url,
                "provincial_client_id": province.provincial_client_id,
                "provincial_client_secret": province.provincial_client_secret,
                "national_base_url": province.national_base_url or self.national_base_url,
                "national_token_url": province.national_token_url or self.national_token_url,
                "national_client_id": province.national_client_id or self.national_client_id,
                "national_client_secret": province.national_client_secret
                or self.national_client_secret,
                "provinces": [],
            }
        )

    upstream_max_concurrency: int = Field(default=4, ge=1, le=64)
    upstream_connect_timeout_s: float = 5.0
    upstream_read_timeout_s: float = 30.0
    upstream_max_attempts: int = Field(default=5, ge=1, le=20)
    upstream_retry_initial_wait_s: float = 0.5
    upstream_retry_max_wait_s: float = 30.0
    upstream_retry_after_cap_s: float = 60.0
    upstream_retry_after_jitter: float = Field(default=0.5, ge=0, le=2)
    upstream_page_rounds: int = Field(default=2, ge=1, le=5)
    upstream_round_pause_s: float = Field(default=15.0, ge=0)
    upstream_request_deadline_s: float = Field(default=60.0, gt=0)
    upstream_listing_deadline_s: float = Field(default=3600.0, gt=0)
    upstream_max_pages: int = Field(default=10_000, ge=1)
    upstream_growth_pages: int = Field(default=2, ge=0)
    upstream_max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # A run that has not finished by then ends partial (its reason says so) and changes nothing.
    run_deadline_s: float = Field(default=4 * 3600, gt=0)

    # semantics §0: a listing with fewer than this fraction of the last succeeded run's keys
    # makes the run partial unless the request accepts the drop.
    sharp_drop_threshold: float = Field(default=0.5, gt=0, lt=1)
    dry_run_sample_size: int = Field(default=50, ge=0)
    # A replica renews the lease of its running run; one that dies lets it expire and the run is
    # declared abandoned by whichever replica looks next.
    run_lease_seconds: float = Field(default=60, gt=0)
    janitor_interval_seconds: float = Field(default=15, gt=0)
    # Webhook events (with their deliveries and attempts) and scheduled ticks older than this
    # are deleted; runs and findings are kept. 0 keeps everything.
    retention_days: float = Field(default=90, ge=0)

    # Scheduler: every replica runs one; each tick fires in exactly one of them. Per scope an
    # interval like 15m or 1h (ticks on whole multiples of it, UTC), or a cron expression in
    # SCHEDULE_TIMEZONE; a scope with a cron must have its interval "off" (refused otherwise:
    # which one was meant is not ours to guess). The report is a job (app.state.scheduled_jobs),
    # not a run: the monthly freeze, on the 1st at 07:00 Vietnam time by default.
    scheduler_enabled: bool = True
    schedule_procedures_every: str = "15m"
    schedule_dossiers_every: str = "60m"
    schedule_procedures_cron: str = ""
    schedule_dossiers_cron: str = ""
    schedule_report_cron: str = "0 7 1 * *"
    schedule_timezone: str = "Asia/Ho_Chi_Minh"
    scheduler_poll_seconds: float = Field(default=5, gt=0)

    @field_validator("schedule_procedures_every", "schedule_dossiers_every")
    @classmethod
    def _interval_parses(cls, value: str, info: ValidationInfo) -> str:
        try:
            parse_interval(value)
        except ValueError as exc:
            raise ValueError(f"{str(info.field_name).upper()}: {exc}") from exc
        return value

    @field_validator("schedule_procedures_cron", "schedule_dossiers_cron", "schedule_report_cron")
    @classmethod
    def _cron_parses(cls, value: str, info: ValidationInfo) -> str:
        try:
            parse_cron(value)
        except ValueError as exc:
            raise ValueError(f"{str(info.field_name).upper()}: {exc}") from exc
        return value

    @field_validator("schedule_timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            parse_zone(value)
        except ValueError as exc:
            raise ValueError(f"SCHEDULE_TIMEZONE: {exc}") from exc
        return value.strip()

    @model_validator(mode="after")
    def _one_cadence_per_scope(self) -> Self:
        for scope in ("procedures", "dossiers"):
            cron = getattr(self, f"schedule_{scope}_cron")
            every = getattr(self, f"schedule_{scope}_every")
            if parse_cron(cron) is not None and parse_interval(every) is not None:
                name = f"SCHEDULE_{scope.upper()}"
                raise ValueError(
                    f"{name}_CRON={cron!r} and {name}_EVERY={every!r} are both set: set "
                    f"{name}_EVERY=off to run {scope} on the cron expression, or leave "
                    f"{name}_CRON empty to run it every {every}"
                )
        return self

    def schedule_zone(self) -> ZoneInfo:
        return parse_zone(self.schedule_timezone)

    def schedule_cadences(self) -> dict[str, Cadence]:
        """The scopes on a schedule (the run scopes and the ``report`` job), with when."""
        zone = self.schedule_zone()
        cadences: dict[str, Cadence] = {}
        for scope in ("procedures", "dossiers"):
            cron = parse_cron(getattr(self, f"schedule_{scope}_cron"))
            every = parse_interval(getattr(self, f"schedule_{scope}_every"))
            if cron is not None:
                cadences[scope] = Cron(cron, zone)
            elif every is not None:
                cadences[scope] = Interval(every)
        report = parse_cron(self.schedule_report_cron)
        if report is not None:
            cadences["report"] = Cron(report, zone)
        return cadences

    # Webhook subscribers: https only unless allowed; private networks only when listed (CIDRs,
    # comma-separated), e.g. a provincial data centre's ranges, or 127.0.0.0/8 for the demo.
    webhook_allowed_networks: str = ""
    webhook_allow_http: bool = False
    webhook_secret_grace_hours: float = Field(default=24, ge=0)
    # Fernet key(s) encrypting signing secrets at rest; comma-separated: the first encrypts,
    # all decrypt (rotation). Required once endpoints exist, unless RECON_SIMULATOR=true.
    webhook_secret_key: str = Field(default="", repr=False)
    # Delivery (design promise 5). The schedule lists the waits before retry 1, 2, ...; a
    # message that still fails after the last one is failed for that endpoint (recoverable).
    webhook_dispatcher_enabled: bool = True  # in the service process; `recon worker` is another
    webhook_timeout_s: float = Field(default=15, gt=0, le=120)
    webhook_retry_schedule: str = "5s,5m,30m,2h,5h,10h,10h"
    webhook_retry_after_cap_s: float = Field(default=3600, ge=0)
    webhook_disable_after_hours: float = Field(default=120, gt=0)  # no success for this long
    webhook_lease_seconds: float = Field(default=30, gt=0)
    webhook_poll_interval_s: float = Field(default=1.0, gt=0)
    webhook_batch_size: int = Field(default=500, ge=1, le=5000)
    # Requests awaiting an answer at once, over all endpoints (each endpoint has its own lane).
    webhook_max_concurrency: int = Field(default=64, ge=1, le=1024)
    # Requests to one endpoint awaiting an answer; they start in event order.
    webhook_endpoint_in_flight: int = Field(default=1, ge=1, le=64)
    # Strict order per endpoint: one request at a time and a failed delivery holds back the
    # endpoint's later ones until it is delivered or has failed for good. Off: a failure is
    # retried on its own schedule while the endpoint's other deliveries carry on.
    webhook_ordered: bool = False

    @field_validator("webhook_secret_key")
    @classmethod
    def _fernet_keys(cls, value: str) -> str:
        from app.webhooks.secretbox import parse_keys

        parse_keys(value)
        return value

    def webhook_secret_box(self) -> SecretBox:
        from app.webhooks.secretbox import SecretBox

        return SecretBox(self.webhook_secret_key, allow_clear=self.recon_simulator)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        parse_schedule(value)
        return value

    def webhook_schedule(self) -> tuple[timedelta, ...]:
        return parse_schedule(self.webhook_retry_schedule)

    # Incremental polling: a procedure run asks P only for the items changed since the last
    # complete one started (less the overlap, for clock skew and items saved while it read),
    # keeping the rest as stored. Deletions are invisible that way, so a run is a full re-check
    # when the last one is older than PROCEDURE_FULL_CHECK_EVERY ("off": only when asked for).
    procedure_incremental: bool = True
    procedure_full_check_every: str = "1d"
    procedure_updated_since_overlap_s: float = Field(default=300, ge=0)

    @field_validator("procedure_full_check_every")
    @classmethod
    def _full_check_interval_parses(cls, value: str) -> str:
        parse_interval(value)
        return value

    def procedure_full_check_interval(self) -> timedelta | None:
        return parse_interval(self.procedure_full_check_every)

    # Resolution 01/NQ-CP: share of fee-bearing dossiers paid online, per year
    # ("2023:0.3,2025:0.5"); the year of the period's end applies, others use the default.
    online_payment_target: float = Field(default=0.3, ge=0, le=1)
    online_payment_targets: str = ""

    # The share of fee-bearing procedures to be provided (synced) on the portal, per year, the
    # same way (Tây Ninh's letter: 60 % for 2023). The console draws it against the rate.
    procedure_sync_target: float = Field(default=0.6, ge=0, le=1)
    procedure_sync_targets: str = ""

    def online_target(self, year: int) -> float:
        return _yearly(self.online_payment_targets, year, self.online_payment_target)

    def sync_target(self, year: int) -> float:
        return _yearly(self.procedure_sync_targets, year, self.procedure_sync_target)

    def provincial(self) -> UpstreamSettings:
        return self._upstream(
            _required(self.provincial_base_url, "PROVINCIAL_BASE_URL"),
            _required(self.provincial_token_url, "PROVINCIAL_TOKEN_URL"),
            self.provincial_client_id,
            self.provincial_client_secret,
            self.provincial_page_size,
        )

    def national(self) -> UpstreamSettings:
        return self._upstream(
            _required(self.national_base_url, "NATIONAL_BASE_URL"),
            _required(self.national_token_url, "NATIONAL_TOKEN_URL"),
            self.national_client_id,
            self.national_client_secret,
            self.national_page_size,
        )

    def _upstream(
        self, base_url: str, token_url: str, client_id: str, secret: SecretStr, page_size: int
    ) -> UpstreamSettings:
        return UpstreamSettings(
            base_url=base_url.rstrip("/"),
            token_url=token_url,
            client_id=client_id,
            client_secret=secret,
            max_concurrency=self.upstream_max_concurrency,
            page_size=page_size,
            connect_timeout_s=self.upstream_connect_timeout_s,
            read_timeout_s=self.upstream_read_timeout_s,
            max_attempts=self.upstream_max_attempts,
            retry_initial_wait_s=self.upstream_retry_initial_wait_s,
            retry_max_wait_s=self.upstream_retry_max_wait_s,
            retry_after_cap_s=self.upstream_retry_after_cap_s,
            retry_after_jitter=self.upstream_retry_after_jitter,
            page_rounds=self.upstream_page_rounds,
            round_pause_s=self.upstream_round_pause_s,
            request_deadline_s=self.upstream_request_deadline_s,
            listing_deadline_s=self.upstream_listing_deadline_s,
            max_pages=self.upstream_max_pages,
            growth_pages=self.upstream_growth_pages,
            max_body_bytes=self.upstream_max_body_bytes,
        )


def _required(value: str | None, name: str) -> str:
    if value is None:
        raise MissingUpstreamSettings([name])
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
