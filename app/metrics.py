"""Prometheus metrics, defined once (prometheus-client keeps a process-wide registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

UPSTREAM_REQUESTS = Counter(
    "recon_upstream_requests_total",
    "Requests to an upstream, by outcome (ok, retryable, error, auth).",
    ["upstream", "outcome"],
)
UPSTREAM_LATENCY = Histogram(
    "recon_upstream_request_seconds",
    "Latency of one upstream HTTP request.",
    ["upstream"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
UPSTREAM_RETRIES = Counter(
    "recon_upstream_retries_total",
    "Retries of upstream requests, by the cause of the retry.",
    ["upstream", "cause"],
)
RUNS = Counter(
    "recon_runs_total",
    "Finished reconciliation runs, by province, scope and outcome.",
    ["province", "scope", "status"],
)
RUN_DURATION = Histogram(
    "recon_run_duration_seconds",
    "Wall time of a reconciliation run.",
    ["province", "scope"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800),
)
OPEN_FINDINGS = Gauge("recon_open_findings", "Open findings, by reason.", ["province", "reason"])
WEBHOOK_ATTEMPTS = Counter(
    "recon_webhook_attempts_total",
    "Webhook delivery attempts, by outcome (delivered, retry, gone, refused).",
    ["outcome"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "recon_webhook_attempt_seconds",
    "Duration of one webhook delivery attempt.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
)
WEBHOOK_BACKLOG = Gauge(
    "recon_webhook_deliveries", "Webhook deliveries not delivered (pending, failed).", ["status"]
)
WEBHOOK_OLDEST_PENDING = Gauge(
    "recon_webhook_oldest_pending_seconds", "Age of the oldest webhook delivery still pending."
)
SCHEDULE_TICKS = Counter(
    "recon_schedule_ticks_total",
    "Scheduled ticks this replica fired, by scope and outcome (started, skipped, failed).",
    ["scope", "outcome"],
)
# Freshness, read from the shared database at scrape time (every replica answers the same). A
# scope without a complete run has no sample; alert on absent() as well as on the age.
LAST_COMPLETE_RUN = Gauge(
    "recon_last_complete_run_timestamp_seconds",
    "Finish time (Unix seconds) of the latest run whose part for the scope was complete.",
    ["province", "scope"],
)
DATA_AGE = Gauge(
    "recon_data_age_seconds",
    "Seconds since the latest run whose part for the scope was complete finished.",
    ["province", "scope"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "recon_http_request_duration_seconds",
    "Duration of HTTP requests served, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUILD_INFO = Info(
    "recon_build", "The running build: package version, commit (RECON_BUILD_COMMIT), Python."
)
