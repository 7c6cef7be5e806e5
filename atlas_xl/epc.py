"""EPC SEPA Credit Transfer text rules: the basic Latin character set, field lengths, IBAN/BIC checks.

Banks reject (or silently mangle) characters outside the EPC basic set
``a-z A-Z 0-9 / - ? : ( ) . , ' + space``, so every outsider-typed text (client names, remittance) is
transliterated here before it goes into a pain.001 file: letters lose their accents (Ü -> U, é -> e),
letters without a decomposition use the table below (ß -> ss, Æ -> AE, ø -> o), `&` becomes `+`, and
anything else (`#`, `<`, `>`, `"`, `;`, `&`-entities' punctuation, control characters) becomes a space;
runs of spaces collapse to one. Identifiers (MsgId, PmtInfId, EndToEndId) are never rewritten, only
checked: silently changing a reference would break the trace back to the payout.
"""

from __future__ import annotations

import re
import unicodedata

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from atlas_xl.errors import IbanError, SepaError

EPC_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ "
_EPC_TEXT_RE = re.compile(r"[a-zA-Z0-9/\-?:().,'+ ]*")
_NOT_EPC_RE = re.compile(r"[^a-zA-Z0-9/\-?:().,'+ ]")
_SPACES_RE = re.compile(r" {2,}")

# EPC field lengths (the XSD allows 140 for names; the EPC SCT rulebook limits them to 70).
NAME_MAX = 70
REMITTANCE_MAX = 140
ID_MAX = 35

# Letters that Unicode does not decompose into base letter + accent, and typographic punctuation that
# has an EPC equivalent. Everything else outside the set is handled by NFKD + "replace by space".
_TABLE = str.maketrans({
    "ß": "ss", "ẞ": "SS",
    "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe",
    "Ø": "O", "ø": "o",
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d",
    "Þ": "TH", "þ": "th", "ı": "i", "ĸ": "k", "Ħ": "H", "ħ": "h", "Ŧ": "T", "ŧ": "t",
    "&": "+",
    "€": "EUR",
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "´": "'", "`": "'",
    "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-",
    "_": "-",
})


def transliterate(text: str | None) -> str:
    """Map any text into the EPC basic character set; spaces collapsed, ends trimmed (may return '')."""
    if text is None:
        return ""
    text = str(text)
    if text.isascii():  # the common case: no accents to decompose, only characters to drop or map
        return _SPACES_RE.sub(" ", _NOT_EPC_RE.sub(" ", text.translate(_TABLE))).strip()
    mapped = text.translate(_TABLE)
    decomposed = unicodedata.normalize("NFKD", mapped)
    # drop the combining accents NFKD split off (é -> e + U+0301), then re-apply the table to anything
    # NFKD produced (e.g. the ligature 'ﬀ' -> 'ff' needs nothing, but a compatibility '＆' -> '&' does)
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_TABLE)
    cleaned = _NOT_EPC_RE.sub(" ", base)
    return _SPACES_RE.sub(" ", cleaned).strip()


def _cut(text: str, max_len: int) -> str:
    return text[:max_len].rstrip()


def epc_name(text: str, max_len: int = NAME_MAX) -> str:
    """A party name in the EPC set, cut to `max_len`; never starts with '/' nor contains '//'."""
    name = transliterate(text)
    while "//" in name:
        name = name.replace("//", "/")
    name = name.lstrip("/ ")
    return _cut(name, max_len)


def epc_remittance(text: str, max_len: int = REMITTANCE_MAX) -> str:
    """Unstructured remittance text in the EPC set, cut to `max_len` (140 for Ustrd)."""
    return _cut(transliterate(text), max_len)


def is_epc_text(text: str) -> bool:
    return _EPC_TEXT_RE.fullmatch(text) is not None


def check_identifier(value: str, what: str, max_len: int = ID_MAX) -> str:
    """An EPC reference (MsgId, PmtInfId, EndToEndId): 1..35 EPC characters, no leading/trailing '/',
    no '//', no spaces at the ends. Raises SepaError quoting the value; never rewrites it."""
    if not isinstance(value, str) or not value:
        raise SepaError(f"{what} {value!r} is empty; expected 1-{max_len} characters of {EPC_CHARS!r}")
    if len(value) > max_len:
        raise SepaError(f"{what} {value!r} has {len(value)} characters; expected at most {max_len}")
    if not is_epc_text(value):
        bad = "".join(sorted(set(_NOT_EPC_RE.findall(value))))
        raise SepaError(f"{what} {value!r} contains {bad!r}; expected only characters of {EPC_CHARS!r}")
    if value.startswith("/") or value.endswith("/") or "//" in value or value != value.strip():
        raise SepaError(f"{what} {value!r} must not start or end with '/' or a space, nor contain '//'")
    return value


def check_iban(value: str, who: str) -> IBAN:
    """A valid IBAN (check digits, country format) in the SEPA zone; `who` names the party in the error."""
    try:
        iban = IBAN(str(value))
    except SchwiftyException as exc:
        raise IbanError(f"{who}: IBAN {value!r} is invalid ({exc}); expected e.g. DE89370400440532013000") \
            from None
    if not iban.in_sepa_zone:
        raise IbanError(f"{who}: IBAN {value!r} is from {iban.country_code}, outside the SEPA zone; "
                        "expected an IBAN of a SEPA country")
    return iban


def check_bic(value: str, who: str) -> BIC:
    """A structurally valid BIC (8 or 11 characters, known country); `who` names the party in the error."""
    try:
        return BIC(str(value))
    except SchwiftyException as exc:
        raise IbanError(f"{who}: BIC {value!r} is invalid ({exc}); expected e.g. COBADEFFXXX") from None
