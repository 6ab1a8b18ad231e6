"""Field types and the base model shared by the response models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Timestamp = Annotated[str, Field(description="ISO 8601 date and time.")]
Day = Annotated[str, Field(description="ISO 8601 date (YYYY-MM-DD).")]
Cursor = Annotated[
    str | None,
    Field(description="Pass as `cursor` for the next page; null on the last page."),
]
Rate = Annotated[
    float | None, Field(description="A fraction between 0 and 1; null when nothing is counted.")
]
FreeForm = dict[str, Any]


class ApiModel(BaseModel):
    """Answers may gain fields; a client should ignore the ones it does not know."""

    model_config = ConfigDict(extra="allow")


class Fix(ApiModel):
    """One reason as a worklist shows it, in the language asked for (`lang`)."""

    reason: str = Field(description="The stable reason code (docs/rules.md).")
    title: str
    who_acts: str = Field(description="Who corrects it first.")
    provincial_place: str | None = Field(description="Where the provincial side's value lives.")
    national_place: str | None = Field(description="Where the national side's value lives.")
    fix: str = Field(description="The action, with both sides' current values.")
