"""Bank codes (NAPAS / VietQR), from the contract's ``banks.md``: short code → BIN."""

from __future__ import annotations

from typing import Final

BIN_BY_SHORT_CODE: Final[dict[str, str]] = {
    "VCB": "970436",
    "ICB": "970415",
    "BIDV": "970418",
    "VBA": "970405",
    "TCB": "970407",
    "MB": "970422",
    "ACB": "970416",
    "VPB": "970432",
    "TPB": "970423",
    "STB": "970403",
    "HDB": "970437",
    "SHB": "970443",
    "EIB": "970431",
    "VIB": "970441",
    "MSB": "970426",
    "SEAB": "970440",
    "OCB": "970448",
    "LPB": "970449",
    "NAB": "970428",
    "NCB": "970419",
    "ABB": "970425",
    "BAB": "970409",
    "BVB": "970438",
    "KLB": "970452",
    "PGB": "970430",
    "PVCB": "970412",
    "SCB": "970429",
    "SGICB": "970400",
    "SHBVN": "970424",
    "DOB": "970406",
    "GPB": "970408",
    "COOPBANK": "970446",
}
KNOWN_BINS: Final[frozenset[str]] = frozenset(BIN_BY_SHORT_CODE.values())
