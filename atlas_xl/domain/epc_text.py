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
import string
import unicodedata
from functools import lru_cache

from schwifty import BIC, IBAN, registry
from schwifty.domain import IBANSpec
from schwifty.exceptions import SchwiftyException

from atlas_xl.errors import IbanError, SepaError

EPC_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ "
_EPC_TEXT_RE = re.compile(r"[a-zA-Z0-9/\-?:().,'+ ]*")
_NOT_EPC_RE = re.compile(r"[^a-zA-Z0-9/\-?:().,'+ ]")
_SPACES_RE = re.compile(r" {2,}")
# Text that transliterate() returns unchanged: EPC characters only, single spaces between words, none at
# the ends.
_CLEAN_EPC_RE = re.compile(r"(?:[a-zA-Z0-9/\-?:().,'+]+(?: [a-zA-Z0-9/\-?:().,'+]+)*)?")

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
    if _CLEAN_EPC_RE.fullmatch(text):
        # already EPC text (most names and references): _transliterate would return it unchanged - none
        # of its characters is in _TABLE or outside the set, no runs of spaces, no space at either end
        return text
    return _transliterate(text)


def _transliterate(text: str) -> str:
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


# Fast paths for the writer, which checks one IBAN and BIC per payout: schwifty builds several str
# subclasses, a BBAN and a pycountry lookup per value (~15 us). A value already in schwifty's canonical
# form (ASCII capitals and digits: its clean() - drop whitespace, upper-case - leaves it unchanged) is
# settled here with schwifty's own registry data and formulas; everything else, and every failure, goes
# through schwifty itself, so the verdict and error text are schwifty's for every input
# (tests/test_epc.py compares both with plain schwifty under hypothesis).
_CANONICAL_IBAN_RE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+")  # ASCII-only form of schwifty's structure check
_CANONICAL_BIC_RE = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")  # schwifty's ISO 9362 check
# schwifty's numerify(): 0-9 stay, A=10 ... Z=35
_MOD97_DIGITS = str.maketrans({c: str(int(c, 36)) for c in string.digits + string.ascii_uppercase})


@lru_cache(maxsize=1024)  # keys are two capitals: at most 676
def _sepa_iban_spec(country_code: str) -> IBANSpec | None:
    """schwifty's IBAN spec for a SEPA country, None for any other (or unknown) country code."""
    try:
        spec = registry.get_iban_spec(country_code)
    except SchwiftyException:
        return None
    return spec if spec.in_sepa_zone else None


@lru_cache(maxsize=2048)  # keys are two characters of [A-Z]
def _bic_country_known(country_code: str) -> bool:
    # schwifty's own country check (a pycountry lookup), which only reads characters 5-6 of the BIC
    return BIC(f"XXXX{country_code}XX", allow_invalid=True).country is not None


def _is_canonical_sepa_iban(text: str) -> bool:
    """True only where IBAN(text) validates, has compact form `text` and is in the SEPA zone."""
    if not _CANONICAL_IBAN_RE.fullmatch(text):
        return False
    spec = _sepa_iban_spec(text[:2])
    if spec is None or len(text) != spec.iban_length or not spec.regex.match(text[4:]):
        return False
    # schwifty's ISO 7064 mod 97-10 check: the check digits computed from BBAN + country must match
    number = int((text[4:] + text[:2]).translate(_MOD97_DIGITS))
    return f"{98 - number * 100 % 97:02d}" == text[2:4]


def _is_canonical_bic(text: str) -> bool:
    """True only where BIC(text) validates and has compact form `text`."""
    return _CANONICAL_BIC_RE.fullmatch(text) is not None and _bic_country_known(text[4:6])


def iban_compact(value: str, who: str) -> str:
    """check_iban(value, who).compact: the same verdict and errors, fast for an already compact IBAN."""
    text = str(value)
    return text if _is_canonical_sepa_iban(text) else check_iban(value, who).compact


def bic_compact(value: str, who: str) -> str:
    """check_bic(value, who).compact: the same verdict and errors, fast for an already compact BIC."""
    text = str(value)
    return text if _is_canonical_bic(text) else check_bic(value, who).compact
