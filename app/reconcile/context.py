"""What the executor hands a pipeline: the run, where to store, how to reach the upstreams,
and the recorder its outcome goes through. Pipelines never reach back into the executor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.clients import NationalClient, ProvincialClient
from app.db import SessionFactory
from app.models import Run
from app.reconcile.outcome import RunRecorder
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class RunContext:
    run: Run
    factory: SessionFactory
    settings: Settings
    recorder: RunRecorder
    # A fresh pair of clients for this run's province (their pages count towards its progress).
    upstreams: Callable[[], tuple[ProvincialClient, NationalClient]]
