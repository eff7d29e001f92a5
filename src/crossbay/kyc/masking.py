"""How identity data is shown on every read: enough for its owner to recognise, too little to reuse."""

from __future__ import annotations

import re

from crossbay.kyc.documents import DocumentType

# Han (with extensions A to H and compatibility ideographs), kana and hangul: scripts whose
# names are written without spaces and are masked character by character.
_CJK = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U000323af]"
)
_HKID = re.compile(r"([A-Z]{1,2}[0-9]{2})[0-9]{4}([0-9A])")
_PRC = re.compile(r"[0-9]{17}[0-9X]")
_MACAU = re.compile(r"[0-9]{8}")


def mask_name(name: str) -> str:
    """``陳大文`` → ``陳*文``, ``陳文`` → ``陳*``, ``Chan Tai Man`` → ``C*** T** M**``."""
    words = name.split()
    if _CJK.search(name):
        # Spaces inside a CJK name are typing noise; keeping them would reveal where they fell.
        chars = "".join(words)
        if len(chars) <= 2:
            return chars[:1] + "*" if len(chars) == 2 else "*" * len(chars)
        return chars[0] + "*" * (len(chars) - 2) + chars[-1]
    return " ".join(word[0] + "*" * (len(word) - 1) for word in words)


def mask_document_number(doc_type: DocumentType, normalized: str) -> str:
    """``A1234563`` → ``A12****(3)``; anything not in its normalized shape is masked entirely."""
    if doc_type == DocumentType.HKID and (m := _HKID.fullmatch(normalized)):
        return f"{m[1]}****({m[2]})"
    if doc_type == DocumentType.PRC_ID and _PRC.fullmatch(normalized):
        return normalized[:3] + "*" * 13 + normalized[-2:]
    if doc_type == DocumentType.MACAU_ID and _MACAU.fullmatch(normalized):
        return f"{normalized[0]}*****{normalized[-2]}({normalized[-1]})"
    if doc_type in (DocumentType.HK_MACAU_PERMIT, DocumentType.PASSPORT) and len(normalized) >= 5:
        # Two trailing characters only once the number is long enough to keep within 40%.
        tail = 2 if len(normalized) >= 8 else 1
        return normalized[0] + "*" * (len(normalized) - 1 - tail) + normalized[-tail:]
    return "*" * len(normalized)
