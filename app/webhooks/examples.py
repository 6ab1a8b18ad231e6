"""One example ``data`` per event type: sent by "send a test event" and shown in
``docs/webhooks.md`` (a test keeps the two, and the shape of real events, in agreement)."""

from __future__ import annotations

import copy
from typing import Any

_RUN_ID = "8fc831c5-58c9-43f5-943c-12c92f62cff7"

_SUBJECT = {
    "kind": "procedure_configuration",
    "key": "1.000032|000.00.15.H53",
    "procedure_code": "1.000032",
    "procedure_name": "Cấp giấy phép xây dựng mới đối với công trình cấp I, II",
    "agency_code": "000.00.15.H53",
    "agency_name": "Sở Xây dựng",
    "level": "tinh",
}


def _mismatch(status: str, evidence: dict[str, Any]) -> dict[str, Any]:
    return {
        "finding_id": 41,
        "episode": 1,
        "subject": _SUBJECT,
        "reason": "account_mismatch",
        "evidence": evidence,
        "run_id": _RUN_ID,
        "first_seen_at": "2026-11-23T01:35:47.863625+00:00",
        "status": status,
        "link": "/procedures/1.000032",
    }


_ACCOUNT_EVIDENCE = {
    "field": "account",
    "provincial": {"raw": "3511.0.1060676", "normalized": "351101060676"},
    "national": {"raw": "3511.0.1186266", "normalized": "351101186266"},
}
_ACCOUNT_EVIDENCE_CHANGED = {
    "field": "account",
    "provincial": {"raw": "3511.0.1060676", "normalized": "351101060676"},
    "national": {"raw": "3511.0.1060677", "normalized": "351101060677"},
}

_COUNTS = {
    "mode": "full",
    "updated_since": None,
    "full_check_reason": "no complete procedure run to start from",
    "full_checked_at": "2026-11-23T01:35:47.412093+00:00",
    "sequence": 1,
    "keys": {"judged": 3233, "unchanged": 0, "removed": 0},
    "fee_bearing_configurations": 1264,
    "synced_configurations": 668,
    "not_synced_configurations": 596,
    "orphans": 119,
    "by_reason": {
        "account_mismatch": 50,
        "sync_pending": 33,
        "bank_mismatch": 25,
        "no_fee_dossier_synced": 168,
        "not_on_national": 94,
        "missing_payment_info": 111,
        "beneficiary_mismatch": 54,
        "treasury_mismatch": 27,
        "inactive_on_national": 19,
        "sync_failed": 29,
        "invalid_account": 17,
        "unknown_bank": 15,
    },
    "summary": {
        "tinh": {"fee_bearing": 543, "synced": 195, "not_synced": 348, "rate": 0.3591},
        "huyen": {"fee_bearing": 6, "synced": 1, "not_synced": 5, "rate": 0.1667},
        "xa": {"fee_bearing": 32, "synced": 9, "not_synced": 23, "rate": 0.2812},
    },
    "findings": {"opened": 642, "updated": 0, "resolved": 0, "unchanged": 0},
    "timings_s": {"fetch": 0.192, "judge": 0.018, "commit": 0.061},
    "warnings": 10,
}


def _run(status: str, counts: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    return {
        "run_id": _RUN_ID,
        "province_code": "H53",
        "scope": "procedures",
        "status": status,
        "period_from": "2023-01-01",
        "period_to": "2023-11-30",
        "counts": counts,
        "errors": errors,
        "link": f"/runs/{_RUN_ID}",
    }


_EXAMPLES: dict[str, dict[str, Any]] = {
    "mismatch.opened": _mismatch("open", _ACCOUNT_EVIDENCE),
    "mismatch.updated": _mismatch("open", _ACCOUNT_EVIDENCE_CHANGED),
    "mismatch.resolved": _mismatch("resolved", _ACCOUNT_EVIDENCE_CHANGED),
    "run.completed": _run("succeeded", _COUNTS, []),
    "run.failed": _run(
        "partial",
        {},
        [
            "national.payment_info: page 3 could not be read after 5 attempts "
            "(HTTP 503); the listing is incomplete and no finding was changed"
        ],
    ),
    "endpoint.disabled": {
        "endpoint_id": "ep_5b0c3f1e9a6d4c2b8e7f1a2b3c4d5e6f",
        "url": "https://motcua.tayninh.gov.vn/hooks/recon",
        "reason": "no successful delivery for 120 h (last error: HTTP 503)",
        "failing_since": "2026-11-18T02:00:05+00:00",
        "disabled_at": "2026-11-23T02:00:07+00:00",
        "link": "/webhooks/endpoints/ep_5b0c3f1e9a6d4c2b8e7f1a2b3c4d5e6f",
    },
}


def example_data(event_type: str) -> dict[str, Any]:
    return copy.deepcopy(_EXAMPLES[event_type])


def example_payload(event_type: str) -> dict[str, Any]:
    """The whole message body, as subscribers receive it."""
    return {
        "type": event_type,
        "timestamp": "2026-11-23T01:35:47.863625+00:00",
        "data": example_data(event_type),
    }
