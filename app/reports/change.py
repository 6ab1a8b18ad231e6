"""A frozen month against the previous frozen month, from the two frozen bodies only.

Never from live data: the same two rows always give the same change, and so the same bytes.
Rates change in points (``round((now - before) * 100, 2)``), counts by their difference; a side
that has no value (a unit new this month, a rate over nothing) makes the change ``null`` while
both values stay shown. Lists are ordered by their key (code, then level), not by rank, so that
an item is found at the same place in both months.

``levels``      per level (tinh, huyen, xa): sync rate and not synced;
``agencies``    per agency and level: not synced and sync rate;
``online_payment.month`` / ``.year_to_date``: per top-level unit and the province, the portal-
                counted and verified rates and the fee-bearing dossiers;
``overdue``     per top-level unit and the province: overdue rate, overdue, open past due.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from app.reconcile.procedures import KNOWN_LEVELS
from app.reports.canonical import canonical_json


def points(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    return round((current - previous) * 100, 2)


def difference(current: int | None, previous: int | None) -> int | None:
    if current is None or previous is None:
        return None
    return current - previous


def _get(row: Mapping[str, Any] | None, key: str) -> Any:
    return row.get(key) if row else None


def _rate_and_count(
    now: Mapping[str, Any] | None,
    before: Mapping[str, Any] | None,
    rate: str,
    count: str,
) -> dict[str, Any]:
    """``rate`` and ``count`` of both months with their changes."""
    return {
        rate: _get(now, rate),
        f"previous_{rate}": _get(before, rate),
        f"{rate}_points": points(_get(now, rate), _get(before, rate)),
        count: _get(now, count),
        f"previous_{count}": _get(before, count),
        f"{count}_change": difference(_get(now, count), _get(before, count)),
    }


def level_order(level: str) -> tuple[int, str]:
    return (KNOWN_LEVELS.index(level) if level in KNOWN_LEVELS else len(KNOWN_LEVELS), level)


def _levels(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    current, previous = now["procedures"]["levels"], before["procedures"]["levels"]
    return {
        level: {
            **_rate_and_count(current.get(level), previous.get(level), "rate", "not_synced"),
            "fee_bearing": _get(current.get(level), "fee_bearing"),
            "previous_fee_bearing": _get(previous.get(level), "fee_bearing"),
        }
        for level in sorted(set(current) | set(previous), key=level_order)
    }


def _by(rows: Iterable[Mapping[str, Any]], *keys: str) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    return {tuple(row[key] for key in keys): row for row in rows}


def _sorted_keys(*maps: Mapping[tuple[Any, ...], Any]) -> list[tuple[Any, ...]]:
    keys = set().union(*maps)
    return sorted(keys, key=lambda key: tuple("" if part is None else str(part) for part in key))


def _agencies(now: Mapping[str, Any], before: Mapping[str, Any]) -> list[dict[str, Any]]:
    current = _by(now["agencies"]["items"], "agency_code", "level")
    previous = _by(before["agencies"]["items"], "agency_code", "level")
    rows = []
    for key in _sorted_keys(current, previous):
        row_now, row_before = current.get(key), previous.get(key)
        rows.append(
            {
                "agency_code": key[0],
                "agency_name": _get(row_now, "agency_name") or _get(row_before, "agency_name"),
                "level": key[1],
                **_rate_and_count(row_now, row_before, "rate", "not_synced"),
            }
        )
    return rows


def _payment_row(now: Mapping[str, Any] | None, before: Mapping[str, Any] | None) -> dict[str, Any]:
    verified = _rate_and_count(now, before, "verified_rate", "verified_online")
    return {
        **_rate_and_count(now, before, "portal_rate", "fee_bearing"),
        "verified_rate": verified["verified_rate"],
        "previous_verified_rate": verified["previous_verified_rate"],
        "verified_rate_points": verified["verified_rate_points"],
    }


def _online_payment(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    current, previous = _by(now["items"], "group"), _by(before["items"], "group")
    return {
        "province": _payment_row(now["province"], before["province"]),
        "items": [
            {
                "group": key[0],
                "name": _get(current.get(key), "name") or _get(previous.get(key), "name"),
                **_payment_row(current.get(key), previous.get(key)),
            }
            for key in _sorted_keys(current, previous)
        ],
    }


def _overdue_row(now: Mapping[str, Any] | None, before: Mapping[str, Any] | None) -> dict[str, Any]:
    open_now, open_before = _get(now, "open_past_due"), _get(before, "open_past_due")
    return {
        **_rate_and_count(now, before, "rate", "overdue"),
        "open_past_due": open_now,
        "previous_open_past_due": open_before,
        "open_past_due_change": difference(open_now, open_before),
    }


def _only_month(series: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return series[0] if series else None


def _overdue(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    current = {item["group"]: item for item in now["items"]}
    previous = {item["group"]: item for item in before["items"]}
    return {
        "province": _overdue_row(_only_month(now["province"]), _only_month(before["province"])),
        "items": [
            {
                "group": group,
                "name": _get(current.get(group), "name") or _get(previous.get(group), "name"),
                **_overdue_row(
                    _only_month(current[group]["months"]) if group in current else None,
                    _only_month(previous[group]["months"]) if group in previous else None,
                ),
            }
            for group in sorted(set(current) | set(previous))
        ],
    }


def report_change(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """The change from the frozen body ``before`` (an earlier month) to the frozen body ``now``."""
    return {
        "from_month": before["month"],
        "to_month": now["month"],
        "levels": _levels(now, before),
        "agencies": _agencies(now, before),
        "online_payment": {
            "month": _online_payment(
                now["online_payment"]["month"], before["online_payment"]["month"]
            ),
            "year_to_date": _online_payment(
                now["online_payment"]["year_to_date"], before["online_payment"]["year_to_date"]
            ),
        },
        "overdue": _overdue(now["overdue"], before["overdue"]),
    }


def answer_json(report_body: str, previous: tuple[str, str] | None) -> bytes:
    """``{"change", "previous_month", "report"}`` with the frozen body embedded as its stored
    bytes (the keys in sorted order, as canonical JSON writes them); ``previous`` is the
    previous frozen month and its body, if there is one."""
    if previous is None:
        change_text, previous_month = "null", None
    else:
        previous_month, previous_body = previous
        change_text = canonical_json(
            report_change(json.loads(report_body), json.loads(previous_body))
        )
    return (
        f'{{"change":{change_text},"previous_month":{canonical_json(previous_month)},'
        f'"report":{report_body}}}'
    ).encode()
