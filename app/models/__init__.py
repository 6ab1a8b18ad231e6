"""Every table, imported so that ``SQLModel.metadata`` knows them (Alembic, tests)."""

from app.models.console import ConsoleSession
from app.models.deliveries import DeliveryStatus, WebhookAttempt, WebhookDelivery
from app.models.dossiers import Dossier, DossierResult, OrphanTransaction, StageItem
from app.models.findings import Finding, FindingEvent, FindingStatus, SubjectKind
from app.models.keys import ApiKey
from app.models.outbox import OutboxEvent
from app.models.procedures import Agency, ProcedureSnapshot
from app.models.reports import MonthlyReport
from app.models.runs import ACTIVE_STATUSES, Run, RunScope, RunStatus
from app.models.schedules import ScheduleTick, TickOutcome
from app.models.webhooks import WebhookEndpoint, WebhookSecret

__all__ = [
    "ACTIVE_STATUSES",
    "Agency",
    "ApiKey",
    "ConsoleSession",
    "DeliveryStatus",
    "Dossier",
    "DossierResult",
    "Finding",
    "FindingEvent",
    "FindingStatus",
    "MonthlyReport",
    "OrphanTransaction",
    "OutboxEvent",
    "ProcedureSnapshot",
    "Run",
    "RunScope",
    "RunStatus",
    "ScheduleTick",
    "StageItem",
    "SubjectKind",
    "TickOutcome",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookSecret",
]
