"""One procedure in full: every configuration of it on both sides, its open findings with the
fix, and their history, resolved episodes included."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from app.console.deps import PageDep
from app.console.pages.overview import level_name
from app.read.fixes import fix_of
from app.read.procedures import ProcedureQuery, procedure_detail
from app.validation import ProcedureCode

router = APIRouter(prefix="/console/procedures", include_in_schema=False)


@router.get("/{procedure_code}", response_class=HTMLResponse)
async def procedure(
    page: PageDep, procedure_code: Annotated[ProcedureCode, Path()]
) -> HTMLResponse:
    page.nav = "agencies"
    detail = await procedure_detail(
        page.session,
        page.province,
        ProcedureQuery(procedure_code=procedure_code, visible=page.visible),
    )
    fixes = {
        finding["id"]: fix_of(finding["reason"], finding["evidence"], page.lang)
        for finding in detail["open_findings"]
    }
    return page.render("procedure.html", detail=detail, fixes=fixes, level_name=level_name)
