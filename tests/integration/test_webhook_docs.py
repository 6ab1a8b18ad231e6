"""docs/webhooks.md shows, per event type, exactly the example the code sends as a test event, and
those examples have the shape of the events real runs write to the outbox."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from app.events import EVENT_TYPES
from app.models import OutboxEvent
from app.simulator.server import SimulatorServer
from app.webhooks.examples import example_payload
from tests.integration.conftest import set_faults, settings_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
PERIOD = {"period_from": "2023-01-01", "period_to": "2023-11-30"}


def documented() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    sections = re.findall(r"^### `([a-z.]+)`\n(.*?)(?=^### |\Z)", text, re.M | re.S)
    examples = {}
    for event_type, body in sections:
        block = re.search(r"```json\n(.*?)```", body, re.S)
        assert block, f"no JSON example for {event_type}"
        examples[event_type] = json.loads(block.group(1))
    return examples


def shape(value: Any) -> Any:
    """Keys all the way down (lists by their first item); values ignored."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def test_every_event_type_is_documented_with_the_example_the_code_sends() -> None:
    examples = documented()
    assert sorted(examples) == sorted(EVENT_TYPES)
    for event_type, example in examples.items():
        assert example == example_payload(event_type), event_type


async def test_examples_have_the_shape_of_real_events(
    tay_ninh_clean: SimulatorServer, sqlite_url: str, service_factory: Any
) -> None:
    service = await service_factory(settings_for(tay_ninh_clean, sqlite_url))
    assert (await service.reconcile(**PERIOD))["status"] == "succeeded"
    set_faults(tay_ninh_clean, fail_pages=["national.thong-tin-thu-huong:2"])
    assert (await service.reconcile(**PERIOD))["status"] == "partial"

    async with service.app.state.session_factory() as session:
        rows = await session.exec(select(OutboxEvent).order_by(col(OutboxEvent.created_at)))
        real = {event.event_type: event.payload for event in rows.all()}
    for event_type in ("mismatch.opened", "run.completed"):
        assert shape(real[event_type]) == shape(example_payload(event_type)), event_type
    # A partial run's counts are empty; everything else has the documented shape.
    assert shape(real["run.failed"]["data"] | {"counts": {}}) == shape(
        example_payload("run.failed")["data"]
    )
    # mismatch.updated / .resolved carry the same fields as .opened (one builder makes all).
    for event_type in ("mismatch.updated", "mismatch.resolved"):
        assert shape(example_payload(event_type)) == shape(real["mismatch.opened"]) | {"type": None}
