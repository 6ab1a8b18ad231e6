"""``docs/rules.md``, generated from the reason catalogue (``app/domain/reasons.py``).

Regenerate after changing the catalogue::

    uv run python -m app.domain.reasons_doc > docs/rules.md

``tests/unit/test_reasons.py`` fails while the committed file differs from what this renders.
"""

from __future__ import annotations

import sys

from app.domain.reasons import ACTORS, CATALOGUE, PLACES, Kind, Place, Reason

__all__ = ["REGENERATE", "render_rules_markdown"]

REGENERATE = "uv run python -m app.domain.reasons_doc > docs/rules.md"

_SECTIONS = (
    (
        Kind.PROCEDURE,
        "Cấu hình thủ tục có thu phí · Fee-bearing procedure configurations (semantics §1)",
    ),
    (Kind.DOSSIER, "Hồ sơ có thu phí · Fee-bearing dossiers (semantics §3)"),
    (
        Kind.LISTED_APART,
        "Liệt kê riêng, không tạo phát hiện · Listed apart, no finding (semantics §1, §3)",
    ),
)


def _place(place: Place | None, lang: str) -> str:
    if place is None:
        return "—"
    label = PLACES[place]
    return label.vi if lang == "vi" else label.en


def _entry(entry: Reason) -> list[str]:
    actor = ACTORS[entry.actor]
    return [
        f"### `{entry.code}` — {entry.title.vi} · {entry.title.en}",
        "",
        "| | Tiếng Việt | English |",
        "|---|---|---|",
        f"| Người xử lý · Who acts (`{entry.actor.value}`) | {actor.vi} | {actor.en} |",
        "| Phía tỉnh · Provincial side | "
        f"{_place(entry.provincial_place, 'vi')} | {_place(entry.provincial_place, 'en')} |",
        "| Phía quốc gia · National side | "
        f"{_place(entry.national_place, 'vi')} | {_place(entry.national_place, 'en')} |",
        "",
        f"**Giải thích.** {entry.explanation.vi}",
        "",
        f"**Explanation.** {entry.explanation.en}",
        "",
        f"**Cách sửa.** {entry.fix.vi}",
        "",
        f"**Fix.** {entry.fix.en}",
        "",
    ]


def render_rules_markdown() -> str:
    """The whole of ``docs/rules.md``: every reason code, in both languages, in table order."""
    lines = [
        "# Quy tắc đối soát · Reconciliation rules",
        "",
        "<!-- Generated from app/domain/reasons.py by app/domain/reasons_doc.py; do not edit.",
        f"     Regenerate: {REGENERATE} -->",
        "",
        "Mỗi mã lý do mà dịch vụ đưa ra: ý nghĩa, ai xử lý, giá trị mỗi bên nằm ở đâu và cách "
        "sửa. Trong mẫu câu cách sửa, `{provincial}` và `{national}` là giá trị hiện tại của hai "
        "bên, lấy từ bằng chứng (evidence) của phát hiện; “—” là bên không có giá trị.",
        "",
        "Every reason code the service emits: what it means, who acts, where each side's value "
        "lives and how to fix it. In the fix templates, `{provincial}` and `{national}` are both "
        "sides' current values, taken from the finding's evidence; “—” marks a side without one. "
        "The exact rules are in `semantics.md` of the upstream contract.",
        "",
    ]
    for kind, heading in _SECTIONS:
        entries = [entry for entry in CATALOGUE.values() if entry.kind is kind]
        lines += [f"## {heading}", ""]
        lines += [f"- `{e.code}` — {e.title.vi} · {e.title.en}" for e in entries]
        lines.append("")
        for entry in entries:
            lines += _entry(entry)
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_rules_markdown())
