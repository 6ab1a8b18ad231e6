"""Slots and due times of intervals and cron expressions on fixed clocks: the same slot for every
moment between two fire times, no fire time skipped at month ends, February or the year's end,
and the schedule settings refused with the setting's name when wrong."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from app.cadence import Cron, Interval, parse_cron, slot_start, tick_slot
from app.settings import Settings

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
MONTHLY = Cron("0 7 1 * *", VIETNAM)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_monthly_report_is_due_at_midnight_utc_on_the_first() -> None:
    # 07:00 in Vietnam (UTC+7) is 00:00 UTC the same day.
    slot = MONTHLY.slot_at(utc(2026, 12, 1, 0, 0, 0))
    assert slot.due_at == utc(2026, 12, 1)
    assert slot.due_at.astimezone(VIETNAM).replace(tzinfo=None) == datetime(2026, 12, 1, 7)
    assert slot.number == int(utc(2026, 12, 1).timestamp())
    assert slot.next_due_at == utc(2027, 1, 1)
    assert slot.interval_s == 30 * 86400  # since 1 November
    # A second earlier is still November's slot.
    before = MONTHLY.slot_at(utc(2026, 11, 30, 23, 59, 59))
    assert (before.due_at, before.next_due_at) == (utc(2026, 11, 1), utc(2026, 12, 1))
    assert before.number != slot.number


def test_every_moment_of_a_slot_gives_the_same_slot() -> None:
    expected = MONTHLY.slot_at(utc(2026, 12, 1))
    for moment in (utc(2026, 12, 1, 0, 0, 0), utc(2026, 12, 15, 12, 30), utc(2026, 12, 31, 23)):
        assert MONTHLY.slot_at(moment) == expected
    # Microseconds before the next fire time, and in another zone's notation of the same moment.
    last = utc(2027, 1, 1) - timedelta(microseconds=1)
    assert MONTHLY.slot_at(last) == expected
    assert MONTHLY.slot_at(last.astimezone(ZoneInfo("America/New_York"))) == expected


def test_the_year_end_rolls_into_january() -> None:
    # 23:59:59 UTC on 31 December is already 06:59:59 on 1 January in Vietnam: not yet due.
    late = MONTHLY.slot_at(utc(2026, 12, 31, 23, 59, 59))
    assert (late.due_at, late.next_due_at) == (utc(2026, 12, 1), utc(2027, 1, 1))
    january = MONTHLY.slot_at(utc(2027, 1, 1, 0, 0, 1))
    assert (january.due_at, january.next_due_at) == (utc(2027, 1, 1), utc(2027, 2, 1))
    assert january.interval_s == 31 * 86400
    # A daily cron at 23:30 local crosses the year at 16:30 UTC on 31 December.
    daily = Cron("30 23 * * *", VIETNAM)
    eve = daily.slot_at(utc(2026, 12, 31, 16, 30))
    assert (eve.due_at, eve.next_due_at) == (utc(2026, 12, 31, 16, 30), utc(2027, 1, 1, 16, 30))


def test_the_31st_skips_the_months_without_one() -> None:
    cron = Cron("0 7 31 * *", VIETNAM)
    slot = cron.slot_at(utc(2027, 2, 15))
    assert (slot.due_at, slot.next_due_at) == (utc(2027, 1, 31), utc(2027, 3, 31))
    assert slot.interval_s == 31 * 86400  # since 31 December
    april = cron.slot_at(utc(2027, 4, 30))
    assert (april.due_at, april.next_due_at) == (utc(2027, 3, 31), utc(2027, 5, 31))
    assert april.interval_s == 59 * 86400  # February has no 31st


def test_the_last_day_of_february_in_common_and_leap_years() -> None:
    cron = Cron("0 7 L * *", VIETNAM)
    assert cron.slot_at(utc(2027, 3, 1)).due_at == utc(2027, 2, 28)
    leap = cron.slot_at(utc(2028, 2, 28, 23))
    assert (leap.due_at, leap.next_due_at) == (utc(2028, 1, 31), utc(2028, 2, 29))
    assert cron.slot_at(utc(2028, 2, 29)).next_due_at == utc(2028, 3, 31)


@pytest.mark.parametrize("expression", ["0 7 1 * *", "0 7 L * *", "0 7 31 * *", "30 23 * * 1"])
def test_walking_a_year_fires_each_time_once_and_loses_none(
    expression: str,
) -> None:
    cron = Cron(expression, VIETNAM)
    moment, end = utc(2027, 12, 15), utc(2029, 1, 15)
    slots = []
    while moment < end:
        slot = cron.slot_at(moment)
        assert slot.due_at <= moment < slot.next_due_at
        if not slots or slots[-1] != slot:
            slots.append(slot)
        moment += timedelta(hours=3)
    numbers = [s.number for s in slots]
    assert len(set(numbers)) == len(numbers)
    # Each slot ends exactly where the next begins: nothing in between went unfired.
    for earlier, later in itertools.pairwise(slots):
        assert earlier.next_due_at == later.due_at
        assert later.interval_s == int((later.due_at - earlier.due_at).total_seconds())
    if expression == "0 7 1 * *":
        firsts = [utc(2028 + m // 12, m % 12 + 1, 1) for m in range(13)]  # 2028-01 to 2029-01
        assert [s.due_at for s in slots[1:]] == firsts


def test_an_interval_slot_is_whole_intervals_since_the_epoch() -> None:
    every = timedelta(minutes=15)
    moment = utc(2026, 12, 2, 10, 20, 31)
    slot = Interval(every).slot_at(moment)
    assert slot.number == tick_slot(moment, every)
    assert (slot.due_at, slot.next_due_at) == (utc(2026, 12, 2, 10, 15), utc(2026, 12, 2, 10, 30))
    assert slot.due_at == slot_start(slot.number, every)
    assert slot.interval_s == 900


def test_cron_expressions_parse() -> None:
    assert parse_cron("  0  7 1 * * ") == "0 7 1 * *"
    assert parse_cron("@daily") == "@daily"
    assert parse_cron("off") is None
    assert parse_cron("") is None
    for wrong in ("61 7 * * *", "0 7 1 *", "0 7 1 * * *", "every day", "0 25 * * *"):
        with pytest.raises(ValueError):
            parse_cron(wrong)


def test_the_defaults_schedule_the_report_monthly_in_vietnam() -> None:
    cadences = settings().schedule_cadences()
    assert cadences["report"] == Cron("0 7 1 * *", VIETNAM)
    assert cadences["procedures"] == Interval(timedelta(minutes=15))
    assert cadences["dossiers"] == Interval(timedelta(minutes=60))
    assert "report" not in settings(schedule_report_cron="off").schedule_cadences()


def test_a_cron_replaces_an_interval_turned_off() -> None:
    chosen = settings(
        schedule_dossiers_cron="0 7 * * *", schedule_dossiers_every="off"
    ).schedule_cadences()
    assert chosen["dossiers"] == Cron("0 7 * * *", VIETNAM)
    other = settings(schedule_timezone="Europe/Paris").schedule_cadences()
    assert other["report"] == Cron("0 7 1 * *", ZoneInfo("Europe/Paris"))


def test_a_cron_beside_an_interval_is_refused_naming_both() -> None:
    with pytest.raises(ValidationError) as raised:
        settings(schedule_dossiers_cron="0 7 * * *")  # SCHEDULE_DOSSIERS_EVERY is 60m
    message = str(raised.value)
    assert "SCHEDULE_DOSSIERS_CRON" in message
    assert "SCHEDULE_DOSSIERS_EVERY=off" in message


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("schedule_report_cron", "0 7 32 * *", "SCHEDULE_REPORT_CRON"),
        ("schedule_procedures_cron", "daily", "SCHEDULE_PROCEDURES_CRON"),
        ("schedule_dossiers_cron", "0 7 1 * * 2027", "SCHEDULE_DOSSIERS_CRON"),
        ("schedule_timezone", "Asia/Saigon_City", "SCHEDULE_TIMEZONE"),
        ("schedule_timezone", "../etc/passwd", "SCHEDULE_TIMEZONE"),
        ("schedule_procedures_every", "15 minutes", "SCHEDULE_PROCEDURES_EVERY"),
    ],
)
def test_a_wrong_schedule_setting_is_refused_by_name(field: str, value: str, named: str) -> None:
    with pytest.raises(ValidationError) as raised:
        settings(**{field: value})
    assert named in str(raised.value)
