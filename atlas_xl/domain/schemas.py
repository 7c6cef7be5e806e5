"""The declared shape of the input tables: one place for docs, the loader's checks and the tests' pandera check.

Each table is a `TableSchema` of `ColumnSpec`s (kind, required, allowed values, range, key, reference).
The loader (atlas_xl.inputs) drives every raw-text check from these declarations; the tests turn the same
declaration into a pandera schema of the frames after loading (tests/frame_schemas.py), and
`markdown_table()` renders the docs table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from atlas_xl.domain.model import (
    MAX_PERIODS,
    MAX_PRINCIPAL_CENTS,
    NO_CAP,
    ClientStatus,
    ColumnKind,
    DayCount,
    Frequency,
    HoldBasis,
    KycStatus,
    Movement,
    OpeningItem,
    PayoutFrequency,
    Product,
    RepaymentMethod,
    ReserveKind,
    Subaccount,
)
from atlas_xl.domain.money import PPM


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: ColumnKind
    required: bool = True
    allowed: tuple[str, ...] = ()  # enums: the canonical spellings
    min_value: int | None = None  # amounts in cents, rates in ppm, ints as themselves
    max_value: int | None = None
    min_exclusive: bool = False  # principal > 0
    max_len: int | None = None  # text
    blank_value: int | None = None  # optional amount: what a blank cell becomes (cap -> -1)
    rule: str = ""  # the human rule, for docs

    @property
    def loaded_name(self) -> str:
        """The column name in the loaded frame (`sales` -> `sales_cents`, `rate` -> `rate_ppm`)."""
        if self.kind == ColumnKind.AMOUNT:
            return f"{self.name}_cents"
        if self.kind == ColumnKind.RATE:
            return f"{self.name}_ppm"
        return self.name


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    references: dict[str, str] = field(default_factory=dict)  # column -> "table.column"
    min_rows: int = 0  # clients and settlements must not be empty

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def loaded_columns(self) -> tuple[str, ...]:
        return (*(c.loaded_name for c in self.columns), "source_row")


def _values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


CLIENT_REF = {"client_id": "clients.client_id"}

CLIENTS = TableSchema(
    name="clients",
    key=("client_id",),
    min_rows=1,
    columns=(
        ColumnSpec("client_id", ColumnKind.ID, max_len=20, rule="unique, 1-20 chars of A-Z a-z 0-9 _ -"),
        ColumnSpec("name", ColumnKind.TEXT, max_len=140, rule="1-140 chars"),
        ColumnSpec("country", ColumnKind.COUNTRY, rule="ISO 3166 alpha-2 (e.g. DE)"),
        ColumnSpec("iban", ColumnKind.TEXT, max_len=34 + 8, rule="text; a bad check digit blocks the payout"),
        ColumnSpec("bic", ColumnKind.TEXT, required=False, max_len=11 + 3, rule="optional"),
        ColumnSpec("status", ColumnKind.ENUM, allowed=_values(ClientStatus)),
        ColumnSpec("kyc_status", ColumnKind.ENUM, allowed=_values(KycStatus)),
        ColumnSpec("credit_limit", ColumnKind.AMOUNT, min_value=0, rule=">= 0"),
        ColumnSpec("payout_frequency", ColumnKind.ENUM, allowed=_values(PayoutFrequency)),
        ColumnSpec("min_payout", ColumnKind.AMOUNT, min_value=0, rule=">= 0"),
        ColumnSpec("factoring_withhold_rate", ColumnKind.RATE, min_value=0, max_value=PPM, rule="0..1"),
        ColumnSpec("opening_balance", ColumnKind.AMOUNT, rule="may be negative"),
    ),
)

SETTLEMENTS = TableSchema(
    name="settlements",
    key=("client_id", "value_date", "currency"),
    references=CLIENT_REF,
    min_rows=1,
    columns=(
        ColumnSpec("client_id", ColumnKind.ID, max_len=20, rule="must exist in clients"),
        ColumnSpec("value_date", ColumnKind.DATE, rule="YYYY-MM-DD"),
        ColumnSpec("currency", ColumnKind.CURRENCY, rule="ISO 4217; only EUR is processed, others are refused"),
        ColumnSpec("sales", ColumnKind.AMOUNT, min_value=0, rule=">= 0"),
        ColumnSpec("refunds", ColumnKind.AMOUNT, min_value=0, rule=">= 0"),
        ColumnSpec("chargebacks", ColumnKind.AMOUNT, min_value=0, rule=">= 0"),
        ColumnSpec("fees", ColumnKind.AMOUNT, min_value=0, rule=">= 0"),
    ),
)

LOANS = TableSchema(
    name="loans",
    key=("loan_id",),
    references=CLIENT_REF,
    columns=(
        ColumnSpec("loan_id", ColumnKind.ID, max_len=20, rule="unique"),
        ColumnSpec("client_id", ColumnKind.ID, max_len=20, rule="must exist in clients"),
        ColumnSpec("product", ColumnKind.ENUM, allowed=_values(Product)),
        ColumnSpec("principal", ColumnKind.AMOUNT, min_value=0, min_exclusive=True, max_value=MAX_PRINCIPAL_CENTS,
                   rule="> 0, at most 1,000,000,000.00"),
        ColumnSpec("annual_rate", ColumnKind.RATE, min_value=0, max_value=PPM, rule="0..1"),
        ColumnSpec("start_date", ColumnKind.DATE, rule="YYYY-MM-DD"),
        ColumnSpec("periods", ColumnKind.INT, min_value=1, max_value=MAX_PERIODS, rule=f"1..{MAX_PERIODS}"),
        ColumnSpec("method", ColumnKind.ENUM, allowed=_values(RepaymentMethod)),
        ColumnSpec("frequency", ColumnKind.ENUM, allowed=_values(Frequency)),
        ColumnSpec("day_count", ColumnKind.ENUM, allowed=_values(DayCount)),
    ),
)

RESERVE_TERMS = TableSchema(
    name="reserve_terms",
    key=("client_id", "reserve"),
    references=CLIENT_REF,
    columns=(
        ColumnSpec("client_id", ColumnKind.ID, max_len=20, rule="must exist in clients"),
        ColumnSpec("reserve", ColumnKind.ENUM, allowed=_values(ReserveKind)),
        ColumnSpec("rate", ColumnKind.RATE, min_value=0, max_value=PPM, rule="0..1 of each day's gross sales"),
        ColumnSpec("hold_days", ColumnKind.INT, min_value=0, max_value=10_000, rule=">= 0"),
        ColumnSpec("hold_basis", ColumnKind.ENUM, allowed=_values(HoldBasis)),
        ColumnSpec("cap", ColumnKind.AMOUNT, required=False, min_value=0, blank_value=NO_CAP,
                   rule="optional (blank = no cap, loaded as -1), >= 0"),
        ColumnSpec("fixed_amount", ColumnKind.AMOUNT, min_value=0, rule=">= 0"),
        ColumnSpec("min_balance", ColumnKind.AMOUNT, min_value=0, rule=">= 0"),
    ),
)

SCHEMAS: dict[str, TableSchema] = {s.name: s for s in (CLIENTS, SETTLEMENTS, LOANS, RESERVE_TERMS)}


def markdown_table(table: str) -> str:
    """The docs table of a raw input table (column | type | rule)."""
    spec = SCHEMAS[table]
    lines = [f"## {table} (key: {', '.join(spec.key)})", "| column | type | rule |", "|---|---|---|"]
    for col in spec.columns:
        rule = col.rule or ("`" + "`, `".join(col.allowed) + "`" if col.allowed else "")
        if col.allowed and col.rule:
            rule = f"{col.rule}; one of `" + "`, `".join(col.allowed) + "`"
        required = "required" if col.required else "optional"
        text = rule if rule.startswith(required) else f"{required}; {rule}"
        lines.append(f"| {col.name} | {col.kind} | {text} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ the close's optional tables (task K)
# Not in SCHEMAS (the four tables of a portfolio): atlas_xl.inputs.ledger_tables reads them on their own.
OPENING_BALANCES = TableSchema(
    name="opening_balances",
    key=("client_id", "item", "release_date"),
    references=CLIENT_REF,
    columns=(
        ColumnSpec("client_id", ColumnKind.ID, max_len=20, rule="must exist in clients"),
        ColumnSpec("cut_over_date", ColumnKind.DATE, rule="YYYY-MM-DD; the same on every row, before the first "
                                                          "day the close books"),
        ColumnSpec("item", ColumnKind.ENUM, allowed=_values(OpeningItem)),
        ColumnSpec("amount", ColumnKind.AMOUNT, rule="may be negative for settlement only"),
        ColumnSpec("release_date", ColumnKind.DATE, rule="YYYY-MM-DD; a reserve hold's release date; the "
                                                         "cut-over date on settlement and advance rows"),
    ),
)

# every kind a booked posting has: the ledger's movements and the opening entry's items
POSTING_KINDS = (*_values(Movement), *(f"opening_{item}" for item in _values(OpeningItem)))

CHART_OF_ACCOUNTS = TableSchema(
    name="chart_of_accounts",
    key=("kind", "subaccount"),
    columns=(
        ColumnSpec("kind", ColumnKind.ENUM, allowed=POSTING_KINDS, rule="a posting kind"),
        ColumnSpec("subaccount", ColumnKind.ENUM, allowed=_values(Subaccount),
                   rule="the subaccount the kind credits"),
        ColumnSpec("debit_account", ColumnKind.TEXT, max_len=20, rule="general-ledger account number"),
        ColumnSpec("credit_account", ColumnKind.TEXT, max_len=20, rule="general-ledger account number"),
        ColumnSpec("description", ColumnKind.TEXT, required=False, max_len=140, rule="optional"),
    ),
)

LEDGER_SCHEMAS: dict[str, TableSchema] = {s.name: s for s in (OPENING_BALANCES, CHART_OF_ACCOUNTS)}
