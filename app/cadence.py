"""When a schedule is due: every fixed interval, or at the times of a cron expression in a zone.

Either way a moment falls in one slot, a number that every replica computes the same for the
same moment, so that (province, scope, slot) names one tick everywhere and its row's primary key
is the claim (app/scheduler.py). An interval's slot is the count of whole intervals since the
Unix epoch; a cron's is the epoch seconds of its latest fire time at or before the moment. A slot
lasts until the next due time, so a replica that polls late in it (or starts after its due
time) still fires it: a tick is lost only when no replica polls before the next one is due.

Cron times are local to the zone (Vietnam's by default, where provinces keep their calendars);
fire times are computed there by croniter and stored and compared in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OFF = ("", "off", "none", "false")
# croniter's shorthands; anything else must be the five crontab fields.
_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def tick_slot(moment: datetime, every: timedelta) -> int:
    return int((moment - EPOCH) // every)


def slot_start(slot: int, every: timedelta) -> datetime:
    return EPOCH + slot * every


def parse_cron(text: str) -> str | None:
    """A five-field crontab expression (minute hour day-of-month month day-of-week, e.g.
    ``0 7 1 * *``) or a shorthand like ``@daily``; ``""`` or ``off`` as None. Raises
    ``ValueError``: croniter would take six or seven fields (seconds, years), which reads too
    easily as another dialect's."""
    expression = " ".join(text.split())
    if expression.lower() in OFF:
        return None
    is_macro = expression.lower() in _MACROS
    if not is_macro and len(expression.split(" ")) != 5:
        raise ValueError(
            f"{text!r} is not a cron expression of five fields "
            "(minute hour day-of-month month day-of-week, e.g. '0 7 1 * *')"
        )
    if not croniter.is_valid(expression):
        raise ValueError(f"{text!r} is not a valid cron expression (e.g. '0 7 1 * *')")
    return expression


def parse_zone(text: str) -> ZoneInfo:
    """An IANA zone such as ``Asia/Ho_Chi_Minh``. Raises ``ValueError``."""
    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{text!r} is not a time zone (e.g. 'Asia/Ho_Chi_Minh')") from exc


@dataclass(frozen=True, slots=True)
class Slot:
    number: int  # the same in every replica for the same tick
    due_at: datetime  # UTC
    next_due_at: datetime  # UTC: when the slot after this one is due
    # The interval; for a cron, the seconds since its previous fire time (stored on the tick).
    interval_s: int


@dataclass(frozen=True, slots=True)
class Interval:
    """Due at every whole multiple of ``every`` since the epoch (UTC)."""

    every: timedelta

    def slot_at(self, moment: datetime) -> Slot:
        number = tick_slot(moment, self.every)
        return Slot(
            number=number,
            due_at=slot_start(number, self.every),
            next_due_at=slot_start(number + 1, self.every),
            interval_s=int(self.every.total_seconds()),
        )


@dataclass(frozen=True, slots=True)
class Cron:
    """Due at the local times of a cron expression in ``zone``."""

    expression: str
    zone: ZoneInfo

    def slot_at(self, moment: datetime) -> Slot:
        # The next fire time strictly after the moment, then the one strictly before that: the
        # latest fire time at or before the moment, even when the moment is exactly one.
        local = moment.astimezone(self.zone)
        next_due = croniter(self.expression, local).get_next(datetime)
        due = croniter(self.expression, next_due).get_prev(datetime)
        previous = croniter(self.expression, due).get_prev(datetime)
        return Slot(
            number=int(due.timestamp()),
            due_at=due.astimezone(UTC),
            next_due_at=next_due.astimezone(UTC),
            interval_s=int(due.timestamp() - previous.timestamp()),  # not wall-clock time
        )


Cadence = Interval | Cron
