"""The console's Jinja2 environment and what every template is given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from app.console import formatting
from app.domain.reasons import Lang

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.autoescape = True
TEMPLATES.env.trim_blocks = True
TEMPLATES.env.lstrip_blocks = True


@dataclass(frozen=True, slots=True)
class Formatter:
    """``formatting``'s functions with the page's language bound: ``f.num(x)`` in a template."""

    lang: Lang

    def tr(self, vi: str, en: str) -> str:
        """The text in the page's language: both are written side by side in the template."""
        return vi if self.lang == "vi" else en

    def num(self, value: int | float | None, digits: int = 0) -> str:
        return formatting.number(value, self.lang, digits)

    def pct(self, rate: float | None, digits: int = 2) -> str:
        return formatting.percent(rate, self.lang, digits)

    def pts(self, change: float | None, digits: int = 2) -> str:
        return formatting.points(change, self.lang, digits)

    def day(self, value: date | str | None) -> str:
        return formatting.day(value, self.lang)

    def time(self, value: datetime | str | None) -> str:
        return formatting.moment(value, self.lang)

    def ago(self, value: timedelta | None) -> str:
        return formatting.age(value, self.lang)

    def month(self, value: str) -> str:
        return formatting.month(value, self.lang)

    def value(self, value: Any) -> str:
        """One side's value from a finding's evidence, as its owner typed it: the raw text of a
        ``{"raw", "normalized"}`` pair, "(trống)" for an empty one, pairs for anything else."""
        if value is None:
            return "—"
        if isinstance(value, dict):
            if "raw" in value:
                return self.value(value["raw"])
            return "; ".join(f"{key}: {self.value(item)}" for key, item in value.items())
        if isinstance(value, bool):
            return self.tr("có", "yes") if value else self.tr("không", "no")
        text = str(value)
        return text if text.strip() else self.tr("(trống)", "(empty)")


def base_context(lang: Lang) -> dict[str, Any]:
    formatter = Formatter(lang)
    return {"f": formatter, "tr": formatter.tr, "lang": lang}
