"""Lists and figures as files agency officers open in Excel: XLSX, CSV with a BOM, a ZIP per agency.

``model`` describes an export (columns, sheets, the meta every file carries); ``xlsx``,
``csv_stream`` and ``archive`` write it as the rows stream in, in flat memory and the same bytes
for the same inputs; ``negotiate`` picks the format and language of a request and ``responses``
turns an export into the HTTP answer.
"""

from app.exports.archive import GroupOrderError, GroupStats, write_zip
from app.exports.csv_stream import csv_chunks
from app.exports.model import Column, ExportMeta, Figure, Kind, Lang, Sheet
from app.exports.negotiate import negotiate_format, negotiate_lang
from app.exports.responses import export_response
from app.exports.xlsx import SheetStats, write_xlsx

__all__ = [
    "Column",
    "ExportMeta",
    "Figure",
    "GroupOrderError",
    "GroupStats",
    "Kind",
    "Lang",
    "Sheet",
    "SheetStats",
    "csv_chunks",
    "export_response",
    "negotiate_format",
    "negotiate_lang",
    "write_xlsx",
    "write_zip",
]
