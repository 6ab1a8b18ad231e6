"""The reason catalogue: what every code the service emits means, who acts, and how to fix it.

Pure data and string formatting (no FastAPI, no database): one ``Reason`` per stable code —
every procedure reason of semantics §1 (``REASON_CODES``), every dossier reason of §3
(``DOSSIER_REASONS``), the two kinds listed apart (``orphan_on_national``,
``orphan_transaction``) and the paid-offline dossiers (``paid_offline``). Each entry has its
Vietnamese and English title and explanation, who acts on it, where each side's value lives, and a
fix template that ``render_fix`` fills from a finding's evidence (the shapes built in
``app/reconcile/procedures.py`` and ``app/reconcile/dossier_rules.py``).

``docs/rules.md`` is generated from this module (``app/domain/reasons_doc.py``); a test keeps
the two equal.

Evidence the rules do not store as findings is read in these shapes:

* ``orphan_on_national`` — ``{"national": <national snapshot>, "provincial": <P's snapshot or
  None>}``, as on ``app.reconcile.procedures.Orphan``;
* ``orphan_transaction`` — a row of ``orphan_rows`` (``transaction_id``, ``dossier_code``,
  ``amount``, ``at``, ``channel`` …), bare or under ``"national"``;
* ``paid_offline`` — ``{"provincial": {"raw": HinhThuc, "normalized": …}}`` or a dossier row
  with ``payment_method``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final, Literal

__all__ = [
    "ACTORS",
    "ALL_CODES",
    "CATALOGUE",
    "DOSSIER_CODES",
    "LISTED_APART_CODES",
    "MISSING",
    "PLACES",
    "PROCEDURE_CODES",
    "Actor",
    "Kind",
    "Lang",
    "Place",
    "Reason",
    "Text",
    "reason",
    "render_fix",
]

Lang = Literal["vi", "en"]
MISSING: Final = "—"  # a side (or a value) the evidence does not have


@dataclass(frozen=True, slots=True)
class Text:
    """The same text in Vietnamese (NFC) and English."""

    vi: str
    en: str

    def get(self, lang: Lang) -> str:
        return self.vi if lang == "vi" else self.en


class Actor(StrEnum):
    """Who acts first on a reason (the IT department follows every list up)."""

    CO_QUAN = "co_quan"
    SO_TTTT = "so_tttt"
    VAN_HANH_DVCQG = "van_hanh_dvcqg"
    NHA_CUNG_CAP_HE_THONG_TINH = "nha_cung_cap_he_thong_tinh"


ACTORS: Final[Mapping[Actor, Text]] = {
    Actor.CO_QUAN: Text("Cơ quan giải quyết TTHC", "The agency handling the procedure"),
    Actor.SO_TTTT: Text(
        "Sở Thông tin và Truyền thông (đơn vị đầu mối CNTT của tỉnh)",
        "The provincial IT department (Department of Information and Communications)",
    ),
    Actor.VAN_HANH_DVCQG: Text(
        "Đơn vị vận hành Cổng Dịch vụ công quốc gia",
        "The National Public Service Portal's operator",
    ),
    Actor.NHA_CUNG_CAP_HE_THONG_TINH: Text(
        "Nhà cung cấp Hệ thống thông tin giải quyết TTHC tỉnh",
        "The provincial dossier system's vendor",
    ),
}


class Place(StrEnum):
    """Where one side's value lives."""

    HE_THONG_TINH = "he_thong_tinh"
    CSDL_QUOC_GIA = "csdl_quoc_gia"
    NEN_TANG_THANH_TOAN = "nen_tang_thanh_toan"


PLACES: Final[Mapping[Place, Text]] = {
    Place.HE_THONG_TINH: Text(
        "Hệ thống thông tin giải quyết TTHC tỉnh", "The provincial dossier system"
    ),
    Place.CSDL_QUOC_GIA: Text(
        "CSDL quốc gia về TTHC", "The national database of administrative procedures"
    ),
    Place.NEN_TANG_THANH_TOAN: Text(
        "Nền tảng thanh toán trực tuyến", "The online payment platform"
    ),
}


class Kind(StrEnum):
    PROCEDURE = "procedure"  # semantics §1, a finding per configuration
    DOSSIER = "dossier"  # semantics §3, a finding per fee-bearing dossier
    LISTED_APART = "listed_apart"  # orphans and paid-offline dossiers: no finding, no event


@dataclass(frozen=True, slots=True)
class Reason:
    """One stable reason code and everything a worklist shows about it.

    ``fix`` is a ``str.format`` template; its fields are ``{provincial}`` and ``{national}``
    (both sides' current values as ``render_fix`` writes them) and, for some codes,
    ``{expected}`` or ``{verified}``.
    """

    code: str
    kind: Kind
    title: Text
    explanation: Text
    actor: Actor
    provincial_place: Place | None  # where P's side lives (None: the rule reads no P value)
    national_place: Place | None  # where N's side lives (None: the rule reads no N value)
    fix: Text


P = Place.HE_THONG_TINH
N = Place.CSDL_QUOC_GIA
PAY = Place.NEN_TANG_THANH_TOAN

_ENTRIES: Final[tuple[Reason, ...]] = (
    # --- semantics §1: fee-bearing procedure configurations --------------------------------
    Reason(
        "missing_payment_info",
        Kind.PROCEDURE,
        Text("Thiếu thông tin thụ hưởng", "Payment information missing"),
        Text(
            "Cấu hình thủ tục có thu phí, lệ phí nhưng Hệ thống tỉnh không có thông tin thụ "
            "hưởng, hoặc số tài khoản thụ hưởng để trống. Khi đó không thể thanh toán trực "
            "tuyến, và các phép so sánh tài khoản, ngân hàng, tên đơn vị thụ hưởng, tài khoản "
            "thu NSNN với CSDL quốc gia được bỏ qua.",
            "The configuration charges a fee but the provincial system has no payment "
            "information for it, or its beneficiary account is empty. It cannot be paid online, "
            "and the comparisons of account, bank, beneficiary and treasury account with the "
            "national database are skipped.",
        ),
        Actor.CO_QUAN,
        P,
        None,
        Text(
            "Nhập đủ thông tin thụ hưởng (số tài khoản, ngân hàng, tên đơn vị thụ hưởng, tài "
            "khoản thu NSNN) trên Hệ thống tỉnh (Hệ thống tỉnh hiện có: {provincial}; CSDL "
            "quốc gia có: {national}).",
            "Enter the full payment information (account, bank, beneficiary, treasury account) "
            "in the provincial system (it now has: {provincial}; the national database has: "
            "{national}).",
        ),
    ),
    Reason(
        "invalid_account",
        Kind.PROCEDURE,
        Text("Số tài khoản không hợp lệ", "Invalid account number"),
        Text(
            "Số tài khoản thụ hưởng trên Hệ thống tỉnh, sau khi bỏ khoảng trắng, dấu chấm và "
            "gạch ngang, không phải từ 6 đến 20 chữ số.",
            "The beneficiary account in the provincial system, once spaces, dots and dashes are "
            "removed, is not 6 to 20 digits.",
        ),
        Actor.CO_QUAN,
        P,
        None,
        Text(
            "Sửa số tài khoản thụ hưởng trên Hệ thống tỉnh thành 6–20 chữ số: Hệ thống tỉnh có "
            "{provincial}, CSDL quốc gia có {national}.",
            "Correct the beneficiary account in the provincial system to 6–20 digits: the "
            "provincial system has {provincial}, the national database has {national}.",
        ),
    ),
    Reason(
        "unknown_bank",
        Kind.PROCEDURE,
        Text("Ngân hàng không xác định", "Unknown bank"),
        Text(
            "Mã ngân hàng thụ hưởng trên Hệ thống tỉnh để trống, hoặc không phải mã BIN hay mã "
            "viết tắt của một ngân hàng trong danh mục.",
            "The beneficiary bank code in the provincial system is empty, or is neither the BIN "
            "nor the short code of a bank in the list.",
        ),
        Actor.CO_QUAN,
        P,
        None,
        Text(
            "Chọn đúng ngân hàng thụ hưởng (mã BIN hoặc mã viết tắt) trên Hệ thống tỉnh: Hệ "
            "thống tỉnh có {provincial}, CSDL quốc gia có {national}.",
            "Choose the right beneficiary bank (BIN or short code) in the provincial system: "
            "the provincial system has {provincial}, the national database has {national}.",
        ),
    ),
    Reason(
        "not_on_national",
        Kind.PROCEDURE,
        Text("Chưa có trên CSDL quốc gia", "Not on the national database"),
        Text(
            "CSDL quốc gia không có thông tin thụ hưởng cho cặp mã thủ tục và mã đơn vị này: cấu "
            "hình chưa được đồng bộ lên. Các phép so sánh với CSDL quốc gia được bỏ qua.",
            "The national database has no payment information for this procedure and agency "
            "code: the configuration was never synchronised. The comparisons with the national "
            "database are skipped.",
        ),
        Actor.SO_TTTT,
        P,
        N,
        Text(
            "Đồng bộ thông tin thụ hưởng của cấu hình này từ Hệ thống tỉnh lên CSDL quốc gia: "
            "Hệ thống tỉnh có {provincial}, CSDL quốc gia có {national}.",
            "Synchronise this configuration's payment information from the provincial system "
            "to the national database: the provincial system has {provincial}, the national "
            "database has {national}.",
        ),
    ),
    Reason(
        "inactive_on_national",
        Kind.PROCEDURE,
        Text("Ngừng hoạt động trên CSDL quốc gia", "Inactive on the national database"),
        Text(
            "Thông tin thụ hưởng có trên CSDL quốc gia nhưng trạng thái (TrangThai) không phải "
            "đang hoạt động (“1”), nên không dùng được để thanh toán.",
            "The payment information is on the national database but its status (TrangThai) "
            "is not active (“1”), so it cannot be used for payment.",
        ),
        Actor.SO_TTTT,
        None,
        N,
        Text(
            "Kích hoạt lại thông tin thụ hưởng trên CSDL quốc gia (trạng thái “1”): CSDL quốc "
            "gia có trạng thái {national}, Hệ thống tỉnh: {provincial}.",
            "Activate the payment information on the national database again (status “1”): "
            "the national database has status {national}, the provincial system: {provincial}.",
        ),
    ),
    Reason(
        "account_mismatch",
        Kind.PROCEDURE,
        Text("Số tài khoản không khớp", "Account number differs"),
        Text(
            "Số tài khoản thụ hưởng trên Hệ thống tỉnh và trên CSDL quốc gia khác nhau (đã bỏ "
            "khoảng trắng, dấu chấm, gạch ngang trước khi so sánh).",
            "The beneficiary account differs between the provincial system and the national "
            "database (spaces, dots and dashes are removed before comparing).",
        ),
        Actor.CO_QUAN,
        P,
        N,
        Text(
            "Xác nhận số tài khoản đúng, rồi sửa bên sai: Hệ thống tỉnh có {provincial}, CSDL "
            "quốc gia có {national}.",
            "Confirm the right account number, then correct the side that is wrong: the "
            "provincial system has {provincial}, the national database has {national}.",
        ),
    ),
    Reason(
        "bank_mismatch",
        Kind.PROCEDURE,
        Text("Ngân hàng không khớp", "Bank differs"),
        Text(
            "Ngân hàng thụ hưởng trên Hệ thống tỉnh và trên CSDL quốc gia khác nhau (mã BIN và "
            "mã viết tắt của cùng một ngân hàng được coi là như nhau).",
            "The beneficiary bank differs between the provincial system and the national "
            "database (the BIN and the short code of one bank count as the same).",
        ),
        Actor.CO_QUAN,
        P,
        N,
        Text(
            "Xác nhận ngân hàng thụ hưởng đúng, rồi sửa bên sai: Hệ thống tỉnh có {provincial}, "
            "CSDL quốc gia có {national}.",
            "Confirm the right beneficiary bank, then correct the side that is wrong: the "
            "provincial system has {provincial}, the national database has {national}.",
        ),
    ),
    Reason(
        "beneficiary_mismatch",
        Kind.PROCEDURE,
        Text("Tên đơn vị thụ hưởng không khớp", "Beneficiary name differs"),
        Text(
            "Tên đơn vị thụ hưởng trên Hệ thống tỉnh và trên CSDL quốc gia khác nhau, kể cả khi "
            "đã bỏ dấu, chữ hoa, dấu câu và mở rộng các chữ viết tắt quen dùng (VP ĐKĐĐ, KBNN, "
            "UBND …).",
            "The beneficiary name differs between the provincial system and the national "
            "database even after diacritics, case and punctuation are ignored and the usual "
            "abbreviations (VP ĐKĐĐ, KBNN, UBND …) are expanded.",
        ),
        Actor.CO_QUAN,
        P,
        N,
        Text(
            "Xác nhận tên đơn vị thụ hưởng đúng theo tài khoản, rồi sửa bên sai: Hệ thống tỉnh "
            "có {provincial}, CSDL quốc gia có {national}.",
            "Confirm the beneficiary name the account is held in, then correct the side that is "
            "wrong: the provincial system has {provincial}, the national database has "
            "{national}.",
        ),
    ),
    Reason(
        "treasury_mismatch",
        Kind.PROCEDURE,
        Text("Tài khoản thu NSNN không khớp", "Treasury account differs"),
        Text(
            "Tài khoản thu ngân sách nhà nước (TaiKhoanThuNSNN) trên Hệ thống tỉnh và trên CSDL "
            "quốc gia khác nhau; để trống ở cả hai bên là như nhau. Tên chi nhánh Kho bạc chỉ "
            "được hiển thị, không so sánh.",
            "The State Treasury revenue account (TaiKhoanThuNSNN) differs between the "
            "provincial system and the national database; empty on both sides is the same. The "
            "treasury branch name is shown, not compared.",
        ),
        Actor.CO_QUAN,
        P,
        N,
        Text(
            "Xác nhận tài khoản thu NSNN đúng với Kho bạc Nhà nước, rồi sửa bên sai: Hệ thống "
            "tỉnh có {provincial}, CSDL quốc gia có {national}.",
            "Confirm the right treasury account with the State Treasury, then correct the side "
            "that is wrong: the provincial system has {provincial}, the national database has "
            "{national}.",
        ),
    ),
    Reason(
        "sync_pending",
        Kind.PROCEDURE,
        Text("Đang chờ đồng bộ", "Synchronisation pending"),
        Text(
            "Trạng thái đồng bộ (TrangThaiDongBo) trên CSDL quốc gia là “0” (chờ đồng bộ) hoặc "
            "một giá trị không có trong đặc tả.",
            "The synchronisation status (TrangThaiDongBo) on the national database is “0” "
            "(waiting) or a value the contract does not know.",
        ),
        Actor.VAN_HANH_DVCQG,
        None,
        N,
        Text(
            "Đề nghị đơn vị vận hành xử lý bản đồng bộ đang chờ: CSDL quốc gia có trạng thái "
            "đồng bộ {national}, Hệ thống tỉnh: {provincial}.",
            "Ask the operator to process the pending synchronisation: the national database "
            "has sync status {national}, the provincial system: {provincial}.",
        ),
    ),
    Reason(
        "sync_failed",
        Kind.PROCEDURE,
        Text("Đồng bộ lỗi", "Synchronisation failed"),
        Text(
            "Trạng thái đồng bộ (TrangThaiDongBo) trên CSDL quốc gia là “2” (lỗi); nội dung lỗi "
            "(LoiDongBo) được hiển thị kèm theo.",
            "The synchronisation status (TrangThaiDongBo) on the national database is “2” "
            "(failed); the error text (LoiDongBo) is shown with it.",
        ),
        Actor.NHA_CUNG_CAP_HE_THONG_TINH,
        None,
        N,
        Text(
            "Đọc lỗi đồng bộ (LoiDongBo), sửa dữ liệu gửi đi từ Hệ thống tỉnh rồi đồng bộ lại: "
            "CSDL quốc gia có trạng thái đồng bộ {national}, Hệ thống tỉnh: {provincial}.",
            "Read the synchronisation error (LoiDongBo), correct what the provincial system "
            "sends and synchronise again: the national database has sync status {national}, "
            "the provincial system: {provincial}.",
        ),
    ),
    Reason(
        "no_fee_dossier_synced",
        Kind.PROCEDURE,
        Text("Chưa có hồ sơ có phí được đồng bộ", "No fee-bearing dossier synced"),
        Text(
            "Thống kê của CSDL quốc gia cho kỳ đối soát không có hồ sơ có phí (SoHoSoCoPhi ≥ 1) "
            "nào của thủ tục này, nên chỉ số 3.5 không tính thủ tục là đã tích hợp thanh toán "
            "trực tuyến.",
            "The national statistics for the run's period show no fee-bearing dossier "
            "(SoHoSoCoPhi ≥ 1) of this procedure, so indicator 3.5 does not count the "
            "procedure as integrated for online payment.",
        ),
        Actor.CO_QUAN,
        None,
        N,
        Text(
            "Đồng bộ các hồ sơ có phí của thủ tục (kèm danh sách phí, lệ phí) và hướng dẫn người "
            "dân thanh toán trực tuyến: số hồ sơ có phí (SoHoSoCoPhi) trên CSDL quốc gia là "
            "{national}; Hệ thống tỉnh: {provincial}.",
            "Synchronise the procedure's fee-bearing dossiers (with their fee lists) and guide "
            "citizens to pay online: the national database's fee-bearing dossier count "
            "(SoHoSoCoPhi) is {national}; the provincial system: {provincial}.",
        ),
    ),
    # --- semantics §3: fee-bearing dossiers ------------------------------------------------
    Reason(
        "invalid_dossier_code",
        Kind.DOSSIER,
        Text("Mã hồ sơ sai định dạng", "Malformed dossier code"),
        Text(
            "Mã hồ sơ (MaHoSo) không có dạng <mã đơn vị của chính hồ sơ>-<yyMMdd, một ngày có "
            "thật>-<4 chữ số>; hồ sơ mang mã sai không được tính đúng khi thanh toán trực tuyến.",
            "The dossier code (MaHoSo) is not <the dossier's own agency code>-<yyMMdd, a real "
            "date>-<4 digits>; a dossier with a wrong code is not counted properly for online "
            "payment.",
        ),
        Actor.NHA_CUNG_CAP_HE_THONG_TINH,
        P,
        None,
        Text(
            "Cấp lại mã hồ sơ theo đúng định dạng {expected} trên Hệ thống tỉnh và đồng bộ lại: "
            "Hệ thống tỉnh có {provincial}, CSDL quốc gia có {national}.",
            "Issue the dossier a code of the form {expected} in the provincial system and "
            "synchronise it again: the provincial system has {provincial}, the national "
            "database has {national}.",
        ),
    ),
    Reason(
        "dossier_not_synced",
        Kind.DOSSIER,
        Text("Hồ sơ chưa được đồng bộ", "Dossier not synced"),
        Text(
            "CSDL quốc gia không có hồ sơ đã đồng bộ nào mang mã hồ sơ này. Các phép so sánh "
            "trạng thái, phí và cờ thanh toán trực tuyến được bỏ qua.",
            "The national database has no synced dossier with this code. The comparisons of "
            "status, fees and the online-payment flag are skipped.",
        ),
        Actor.NHA_CUNG_CAP_HE_THONG_TINH,
        P,
        N,
        Text(
            "Đồng bộ hồ sơ từ Hệ thống tỉnh lên Cổng Dịch vụ công quốc gia: Hệ thống tỉnh có "
            "{provincial}, CSDL quốc gia có {national}.",
            "Synchronise the dossier from the provincial system to the national portal: the "
            "provincial system has {provincial}, the national database has {national}.",
        ),
    ),
    Reason(
        "status_mismatch",
        Kind.DOSSIER,
        Text("Trạng thái hồ sơ không khớp", "Dossier status differs"),
        Text(
            "Trạng thái hồ sơ (TrangThaiHoSo) trên Hệ thống tỉnh và trên CSDL quốc gia khác nhau "
            "(so sánh như số nguyên).",
            "The dossier status (TrangThaiHoSo) differs between the provincial system and the "
            "national database (compared as integers).",
        ),
        Actor.NHA_CUNG_CAP_HE_THONG_TINH,
        P,
        N,
        Text(
            "Kiểm tra trạng thái đúng của hồ sơ rồi đồng bộ lại: Hệ thống tỉnh có {provincial}, "
            "CSDL quốc gia có {national}.",
            "Check the dossier's true status, then synchronise it again: the provincial system "
            "has {provincial}, the national database has {national}.",
        ),
    ),
    Reason(
        "fee_mismatch",
        Kind.DOSSIER,
        Text("Phí, lệ phí không khớp", "Fees differ"),
        Text(
            "Tổng phí, lệ phí (Gia) của hồ sơ trên Hệ thống tỉnh và trên CSDL quốc gia khác nhau.",
            "The dossier's fee total (sum of Gia) differs between the provincial system and the "
            "national database.",
        ),
        Actor.NHA_CUNG_CAP_HE_THONG_TINH,
        P,
        N,
        Text(
            "Xác nhận mức phí, lệ phí đúng của hồ sơ rồi đồng bộ lại danh sách phí: Hệ thống "
            "tỉnh có {provincial}, CSDL quốc gia có {national}.",
            "Confirm the dossier's right fees, then synchronise its fee list again: the "
            "provincial system has {provincial}, the national database has {national}.",
        ),
    ),
    Reason(
        "payment_not_on_platform",
        Kind.DOSSIER,
        Text("Thanh toán không có trên nền tảng", "Payment not on the platform"),
        Text(
            "Hệ thống tỉnh ghi hồ sơ đã thanh toán qua Cổng Dịch vụ công quốc gia (HinhThuc "
            "“DVCQG”) nhưng Nền tảng thanh toán không có giao dịch thành công nào cho hồ sơ, và "
            "không có giao dịch đang chờ nào còn trong thời gian chờ.",
            "The provincial system records the dossier as paid through the national portal "
            "(HinhThuc “DVCQG”) but the payment platform has no successful transaction for it, "
            "and no pending one still within the grace window.",
        ),
        Actor.CO_QUAN,
        P,
        PAY,
        Text(
            "Đối chiếu biên lai với người nộp rồi sửa hình thức thanh toán trên Hệ thống tỉnh, "
            "hoặc đề nghị tra soát giao dịch: Hệ thống tỉnh có {provincial}, Nền tảng thanh "
            "toán có {national}.",
            "Check the receipt with the payer, then correct the payment method in the "
            "provincial system, or ask for the transaction to be traced: the provincial system "
            "has {provincial}, the payment platform has {national}.",
        ),
    ),
    Reason(
        "payment_pending",
        Kind.DOSSIER,
        Text("Giao dịch treo", "Payment stuck pending"),
        Text(
            "Nền tảng thanh toán không có giao dịch thành công cho hồ sơ nhưng có giao dịch đang "
            "chờ (“3”), và giao dịch mới nhất đã quá thời gian chờ (mặc định 30 phút trước khi "
            "đối soát).",
            "The payment platform has no successful transaction for the dossier but has "
            "pending (“3”) ones, the newest older than the grace window (30 minutes before the "
            "run by default).",
        ),
        Actor.VAN_HANH_DVCQG,
        P,
        PAY,
        Text(
            "Đề nghị đơn vị vận hành tra soát giao dịch treo với ngân hàng: Nền tảng thanh toán "
            "có {national}, Hệ thống tỉnh có {provincial}.",
            "Ask the operator to trace the stuck transactions with the bank: the payment "
            "platform has {national}, the provincial system has {provincial}.",
        ),
    ),
    Reason(
        "payment_not_recorded",
        Kind.DOSSIER,
        Text("Thanh toán chưa được ghi nhận", "Payment not recorded"),
        Text(
            "Nền tảng thanh toán có giao dịch thành công cho hồ sơ nhưng Hệ thống tỉnh không ghi "
            "nhận thanh toán, hoặc ghi một hình thức khác “DVCQG”.",
            "The payment platform has a successful transaction for the dossier but the "
            "provincial system records no payment, or a method other than “DVCQG”.",
        ),
        Actor.CO_QUAN,
        P,
        PAY,
        Text(
            "Ghi nhận thanh toán qua Cổng Dịch vụ công quốc gia (HinhThuc “DVCQG”) cho hồ sơ "
            "trên Hệ thống tỉnh: Hệ thống tỉnh có {provincial}, Nền tảng thanh toán có "
            "{national}.",
            "Record the payment through the national portal (HinhThuc “DVCQG”) on the dossier "
            "in the provincial system: the provincial system has {provincial}, the payment "
            "platform has {national}.",
        ),
    ),
    Reason(
        "amount_mismatch",
        Kind.DOSSIER,
        Text("Số tiền không khớp", "Amount differs"),
        Text(
            "Tổng số tiền các giao dịch thành công trên Nền tảng thanh toán khác số tiền Hệ "
            "thống tỉnh ghi nhận (ThanhToan.SoTien; khi không ghi nhận thanh toán thì so với tổng "
            "phí, lệ phí của hồ sơ).",
            "The sum of the successful transactions on the payment platform differs from the "
            "amount the provincial system records (ThanhToan.SoTien; when it records no payment, "
            "the dossier's fee total).",
        ),
        Actor.CO_QUAN,
        P,
        PAY,
        Text(
            "Đối chiếu biên lai rồi sửa số tiền bên sai (hoặc đề nghị hoàn phần thu thừa): Hệ "
            "thống tỉnh có {provincial}, Nền tảng thanh toán có {national}.",
            "Check the receipt, then correct the amount on the side that is wrong (or ask for "
            "the overpayment to be refunded): the provincial system has {provincial}, the "
            "payment platform has {national}.",
        ),
    ),
    Reason(
        "online_flag_mismatch",
        Kind.DOSSIER,
        Text("Cờ thanh toán trực tuyến không khớp", "Online-payment flag differs"),
        Text(
            "Cờ DuocThanhToanTrucTuyen trên CSDL quốc gia là “1” hoặc “2” mà không có giao dịch "
            "thành công, hoặc không phải “1”, “2” dù có giao dịch thành công. Chỉ số thanh toán "
            "trực tuyến của tỉnh được tính theo cờ này.",
            "The DuocThanhToanTrucTuyen flag on the national database is “1” or “2” without a "
            "successful transaction, or neither with one. The province's online-payment figure "
            "is counted from this flag.",
        ),
        Actor.NHA_CUNG_CAP_HE_THONG_TINH,
        PAY,
        N,
        Text(
            "Đồng bộ lại hồ sơ với cờ DuocThanhToanTrucTuyen đúng theo giao dịch: CSDL quốc gia "
            "có cờ {national}, Nền tảng thanh toán {verified}; Hệ thống tỉnh: {provincial}.",
            "Synchronise the dossier again with the DuocThanhToanTrucTuyen flag its "
            "transactions call for: the national database has flag {national}, the payment "
            "platform {verified}; the provincial system: {provincial}.",
        ),
    ),
    # --- listed apart: no finding, no event ------------------------------------------------
    Reason(
        "orphan_on_national",
        Kind.LISTED_APART,
        Text("Thông tin thụ hưởng thừa trên CSDL quốc gia", "Orphan on the national database"),
        Text(
            "CSDL quốc gia có thông tin thụ hưởng cho cặp mã thủ tục và mã đơn vị mà Hệ thống "
            "tỉnh không có cấu hình thu phí nào (không có cấu hình, hoặc cấu hình không có phí "
            "trên 0). Được liệt kê riêng, không tính vào số thủ tục có thu phí.",
            "The national database has payment information for a procedure and agency code "
            "that has no fee-bearing configuration in the provincial system (none at all, or "
            "one without a fee above zero). Listed apart, never counted among the fee-bearing.",
        ),
        Actor.SO_TTTT,
        P,
        N,
        Text(
            "Xác định cấu hình còn dùng không: khai báo phí trên Hệ thống tỉnh, hoặc gỡ thông "
            "tin thụ hưởng trên CSDL quốc gia: Hệ thống tỉnh có {provincial}, CSDL quốc gia có "
            "{national}.",
            "Decide whether the configuration is still in use: declare its fees in the "
            "provincial system, or remove the payment information from the national database: "
            "the provincial system has {provincial}, the national database has {national}.",
        ),
    ),
    Reason(
        "orphan_transaction",
        Kind.LISTED_APART,
        Text("Giao dịch không khớp hồ sơ", "Orphan transaction"),
        Text(
            "Giao dịch thành công trong kỳ trên Nền tảng thanh toán không khớp hồ sơ nào của Hệ "
            "thống tỉnh tiếp nhận trong kỳ (trừ khi mã hồ sơ đúng định dạng và có ngày trước "
            "kỳ: giao dịch đó trả cho một hồ sơ cũ). Được liệt kê riêng.",
            "A successful transaction of the period on the payment platform matches no dossier "
            "the provincial system received in the period (unless its dossier code is well "
            "formed and dated before the period: it pays an older dossier). Listed apart.",
        ),
        Actor.CO_QUAN,
        P,
        PAY,
        Text(
            "Tìm hồ sơ mà giao dịch này thanh toán và sửa mã tham chiếu hoặc mã hồ sơ trên Hệ "
            "thống tỉnh: Nền tảng thanh toán có {national}, Hệ thống tỉnh có {provincial}.",
            "Find the dossier this transaction pays and correct its reference or dossier code "
            "in the provincial system: the payment platform has {national}, the provincial "
            "system has {provincial}.",
        ),
    ),
    Reason(
        "paid_offline",
        Kind.LISTED_APART,
        Text("Thanh toán ngoài Cổng", "Paid offline"),
        Text(
            "Hồ sơ không có giao dịch thành công trên Nền tảng thanh toán và Hệ thống tỉnh ghi "
            "hình thức tiền mặt, chuyển khoản, thẻ tại quầy hoặc QR tĩnh của tỉnh. Không phải "
            "sai lệch, nhưng không được tính là thanh toán trực tuyến (chỉ QR động qua Cổng được "
            "tính).",
            "The dossier has no successful transaction on the payment platform and the "
            "provincial system records cash, bank transfer, a card at the counter or the "
            "province's static QR. Not a mismatch, but not online payment either (only the "
            "dynamic QR through the portal counts).",
        ),
        Actor.CO_QUAN,
        P,
        PAY,
        Text(
            "Hướng dẫn người dân thanh toán trực tuyến qua Cổng Dịch vụ công quốc gia cho các hồ "
            "sơ sau: Hệ thống tỉnh ghi {provincial}; Nền tảng thanh toán: {national}.",
            "Guide citizens to pay online through the national portal for the next dossiers: "
            "the provincial system records {provincial}; the payment platform: {national}.",
        ),
    ),
)

CATALOGUE: Final[Mapping[str, Reason]] = {entry.code: entry for entry in _ENTRIES}
ALL_CODES: Final[tuple[str, ...]] = tuple(CATALOGUE)
PROCEDURE_CODES: Final[tuple[str, ...]] = tuple(
    e.code for e in _ENTRIES if e.kind is Kind.PROCEDURE
)
DOSSIER_CODES: Final[tuple[str, ...]] = tuple(e.code for e in _ENTRIES if e.kind is Kind.DOSSIER)
LISTED_APART_CODES: Final[tuple[str, ...]] = tuple(
    e.code for e in _ENTRIES if e.kind is Kind.LISTED_APART
)


def reason(code: str) -> Reason:
    """The catalogue entry of ``code``; ``KeyError`` for a code the service never emits."""
    return CATALOGUE[code]


# --- rendering a fix from evidence ----------------------------------------------------------

_EMPTY: Final = Text("(trống)", "(empty)")
_NONE: Final = Text("(không có)", "(none)")
_YES_NO: Final = (Text("có", "yes"), Text("không", "no"))


def _scalar(value: Any, lang: Lang) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return _YES_NO[0 if value else 1].get(lang)
    if isinstance(value, int):
        text = f"{value:,}"
        return text.replace(",", ".") if lang == "vi" else text
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    return f"“{text}”" if text.strip() else _EMPTY.get(lang)


def _value(value: Any, lang: Lang) -> str:
    """One side's value as a worklist shows it: the raw value users see (a list of raw values
    with the compared total), nested dicts as ``key: value`` pairs, "—" when absent."""
    if value is None:
        return MISSING
    if isinstance(value, Mapping):
        if "raw" in value:
            raw, normalized = value.get("raw"), value.get("normalized")
            if isinstance(raw, list | tuple):
                listed = " + ".join(_scalar(item, lang) for item in raw) or _NONE.get(lang)
                return f"{_scalar(normalized, lang)} ({listed})"
            return _scalar(raw if raw is not None else normalized, lang)
        if not value:
            return MISSING
        return ", ".join(f"{key}: {_value(item, lang)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_scalar(item, lang) for item in value) or _NONE.get(lang)
    return _scalar(value, lang)


def _get(evidence: Mapping[str, Any], key: str) -> Any:
    return evidence.get(key) if isinstance(evidence, Mapping) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


Fields = dict[str, str]
View = Callable[[Mapping[str, Any], Lang], Fields]


def _generic(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    fields = {
        "provincial": _value(_get(evidence, "provincial"), lang),
        "national": _value(_get(evidence, "national"), lang),
    }
    if _get(evidence, "expected") is not None:
        fields["expected"] = _value(evidence["expected"], lang)
    return fields


def _missing_payment_info(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    side = _get(evidence, "provincial")
    fields = _generic(evidence, lang)
    if isinstance(side, Mapping):
        if side.get("has_payment_info") is False:
            text = Text("chưa có thông tin thụ hưởng", "no payment information").get(lang)
        else:
            label = Text("số tài khoản", "account").get(lang)
            text = f"{label} {_value(side.get('account'), lang)}"
        fields["provincial"] = text
    return fields


def _no_fee_dossier_synced(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    side = _get(evidence, "national")
    fields = _generic(evidence, lang)
    if isinstance(side, Mapping):
        fields["national"] = _scalar(side.get("fee_dossiers"), lang)
    elif isinstance(evidence, Mapping) and "national" in evidence:  # N has no row for it
        fields["national"] = Text(
            "0 (không có dòng thống kê của thủ tục)", "0 (no statistics row for the procedure)"
        ).get(lang)
    return fields


def _payment_not_on_platform(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    p, n = _get(evidence, "provincial"), _get(evidence, "national")
    fields = _generic(evidence, lang)
    if isinstance(p, Mapping):  # _side(method, reference): raw is HinhThuc, normalized the ref
        method, ref = _scalar(p.get("raw"), lang), _scalar(p.get("normalized"), lang)
        fields["provincial"] = f"HinhThuc {method}, MaThamChieu {ref}"
    if isinstance(n, Mapping):
        fields["national"] = (
            Text(
                "{v} giao dịch thành công, {p} giao dịch đang chờ",
                "{v} successful and {p} pending transactions",
            )
            .get(lang)
            .format(v=_scalar(n.get("verified"), lang), p=_scalar(n.get("pending"), lang))
        )
    return fields


def _payment_pending(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    n = _get(evidence, "national")
    fields = _generic(evidence, lang)
    if isinstance(n, Mapping):
        fields["national"] = (
            Text(
                "giao dịch đang chờ {ids} (mới nhất lúc {at})",
                "pending transactions {ids} (newest at {at})",
            )
            .get(lang)
            .format(ids=_value(n.get("pending"), lang), at=_scalar(n.get("newest_at"), lang))
        )
    return fields


def _payment_not_recorded(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    p, n = _get(evidence, "provincial"), _get(evidence, "national")
    fields = _generic(evidence, lang)
    if isinstance(p, Mapping) and p.get("raw") is None:
        fields["provincial"] = Text("không ghi nhận thanh toán", "no payment recorded").get(lang)
    elif isinstance(p, Mapping):
        fields["provincial"] = f"HinhThuc {_value(p, lang)}"
    if isinstance(n, Mapping):
        label = Text("giao dịch thành công", "successful transactions").get(lang)
        fields["national"] = f"{label} {_value(n.get('verified'), lang)}"
    return fields


def _online_flag_mismatch(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    fields = _generic(evidence, lang)
    verified = _get(evidence, "verified")
    if verified is None:
        fields["verified"] = MISSING
    elif verified:
        fields["verified"] = Text("có giao dịch thành công", "has a successful transaction").get(
            lang
        )
    else:
        fields["verified"] = Text(
            "không có giao dịch thành công", "has no successful transaction"
        ).get(lang)
    return fields


def _payment_info_text(snapshot: Mapping[str, Any], lang: Lang) -> str:
    info = _mapping(snapshot.get("payment_info"))
    if not info:
        return MISSING
    labels = (
        ("account", Text("tài khoản", "account")),
        ("bank", Text("ngân hàng", "bank")),
        ("beneficiary_name", Text("đơn vị thụ hưởng", "beneficiary")),
        ("treasury_account", Text("tài khoản thu NSNN", "treasury account")),
    )
    return ", ".join(f"{label.get(lang)} {_scalar(info.get(key), lang)}" for key, label in labels)


def _orphan_on_national(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    p, n = _get(evidence, "provincial"), _get(evidence, "national")
    has_configuration = _get(evidence, "has_provincial_configuration")
    if isinstance(p, Mapping) or has_configuration:
        provincial = Text("cấu hình không thu phí", "a configuration without fees").get(lang)
    else:
        provincial = MISSING
    national = _payment_info_text(n, lang) if isinstance(n, Mapping) else MISSING
    return {"provincial": provincial, "national": national}


def _orphan_transaction(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    row = _get(evidence, "national")
    if not isinstance(row, Mapping):
        row = evidence if isinstance(evidence, Mapping) else {}
    if not row.get("transaction_id"):
        return {"provincial": MISSING, "national": MISSING}
    national = Text(
        "giao dịch {id}, mã hồ sơ {code}, mã tham chiếu {ref}, số tiền {amount}, lúc {at}",
        "transaction {id}, dossier code {code}, reference {ref}, amount {amount}, at {at}",
    ).get(lang)
    return {
        "provincial": _value(_get(evidence, "provincial"), lang),
        "national": national.format(
            id=_scalar(row.get("transaction_id"), lang),
            code=_scalar(row.get("dossier_code"), lang),
            ref=_scalar(row.get("reference"), lang),
            amount=_scalar(row.get("amount"), lang),
            at=_scalar(row.get("at"), lang),
        ),
    }


def _paid_offline(evidence: Mapping[str, Any], lang: Lang) -> Fields:
    fields = _generic(evidence, lang)
    method = _get(evidence, "payment_method")
    if method is not None and _get(evidence, "provincial") is None:
        fields["provincial"] = _scalar(method, lang)
    if _get(evidence, "national") is None:
        fields["national"] = Text("không có giao dịch thành công", "no successful transaction").get(
            lang
        )
    return fields


_VIEWS: Final[Mapping[str, View]] = {
    "missing_payment_info": _missing_payment_info,
    "no_fee_dossier_synced": _no_fee_dossier_synced,
    "payment_not_on_platform": _payment_not_on_platform,
    "payment_pending": _payment_pending,
    "payment_not_recorded": _payment_not_recorded,
    "online_flag_mismatch": _online_flag_mismatch,
    "orphan_on_national": _orphan_on_national,
    "orphan_transaction": _orphan_transaction,
    "paid_offline": _paid_offline,
}


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return MISSING


def render_fix(code: str, evidence: Mapping[str, Any] | None, lang: Lang = "vi") -> str:
    """The fix for one finding as a sentence: ``code``'s template filled with both sides' current
    values from ``evidence`` (the shape the rules store). A side or value the evidence lacks is
    written "—"; ``KeyError`` only for a code the catalogue does not have."""
    entry = reason(code)
    view = _VIEWS.get(code, _generic)
    fields = _Fields(view(evidence if isinstance(evidence, Mapping) else {}, lang))
    return entry.fix.get(lang).format_map(fields)
