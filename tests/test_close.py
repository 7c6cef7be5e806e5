"""The daily close on a tiny portfolio whose every posting is worked out by hand, on SQLite and PostgreSQL:
booking, the no-op and the refusals, booked days keeping what they were booked with, verify, corrections.

tests/data/close_tiny (CSV, read by the real loader): C1 sells 100.00 a day with 2.00 fees and a 10 % rolling
reserve held 7 calendar days, paid daily; C2 sells 50.00 a day with 1.00 fees, paid daily from a minimum
payout of 100.00; 2024-03-04 .. 2024-03-06, no loans.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from atlas_xl.errors import ArgumentError, DateError, PermissionDenied, RefusedByRule
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.store.models import AuditEntry, BookedDay, LedgerPosting
from atlas_xl.workflow import close as closing
from atlas_xl.workflow.credit import change_credit_limit
from tests.pg_fixtures import *  # noqa: F403

TINY = Path(__file__).parent / "data" / "close_tiny"
D1, D2, D3 = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)

# (client, kind, amount credited to the kind's subaccount) per day, by hand:
# C1: sale 100.00 -> 10000; fee 2.00 -> 200; rolling hold 10 % of 10000 = 1000; the rest is paid the same day:
#     10000 - 200 - 1000 = 8800.
# C2: sale 5000, fee 100: 4900 a day is below the 100.00 minimum on day 1 (4900) and day 2 (9800), so it is
#     carried; on day 3 the 14700 (3 x 4900) reaches the minimum and is paid.
C1_DAY = [("C1", "fee", 200), ("C1", "payout", 8800), ("C1", "reserve_hold", 1000), ("C1", "sale", 10000)]
C2_DAY = [("C2", "fee", 100), ("C2", "sale", 5000)]
EXPECTED = {D1: C1_DAY + C2_DAY, D2: C1_DAY + C2_DAY,
            D3: C1_DAY + [("C2", "fee", 100), ("C2", "payout", 14700), ("C2", "sale", 5000)]}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(TINY, folder)
    return folder


def booked(store, day: dt.date) -> list[tuple[str, str, int]]:
    with store.transaction() as session:
        frame = closing.read_postings(session, day, day)
    return [(r.client_id, r.kind, int(r.amount_cents)) for r in frame.sort_values(["client_id", "kind"])
            .itertuples()]


def test_close_books_each_day_once_with_the_hand_made_postings(admin_users, data):
    store = admin_users
    portfolio = load_portfolio(data)
    first = closing.close(store, "otto", portfolio, day=D1)
    assert first.booked == [D1] and first.postings == 6 and not first.changed
    rest = closing.close(store, "otto", portfolio, through=D3)
    assert rest.booked == [D2, D3] and rest.postings == 6 + 7
    for day, rows in EXPECTED.items():
        assert booked(store, day) == rows, day
    # the legs: a fee is credited to external and debited from the client's settlement subaccount
    with store.transaction() as session:
        fee = session.execute(select(LedgerPosting).where(LedgerPosting.kind == "fee",
                                                          LedgerPosting.client_id == "C1").limit(1)).scalar_one()
        assert (fee.subaccount, fee.counter_subaccount) == ("external", "settlement")
        assert session.execute(select(func.count()).select_from(BookedDay)).scalar() == 3
        assert session.execute(select(func.count()).select_from(AuditEntry)
                               .where(AuditEntry.action == "close_day")).scalar() == 3
    # closing again with the same inputs is a no-op
    again = closing.close(store, "otto", portfolio, day=D2)
    assert again.booked == [] and again.already == [D2]
    assert closing.close(store, "otto", portfolio, through=D3).already == [D3]
    assert closing.verify(store, "rita", portfolio).empty  # untouched store: zero differences


def test_close_refuses_gaps_days_beyond_the_data_and_unpermitted_users(admin_users, data):
    store, portfolio = admin_users, load_portfolio(data)
    with pytest.raises(RefusedByRule, match="2024-03-04 is not booked yet; days are closed in order"):
        closing.close(store, "otto", portfolio, day=D2)
    with pytest.raises(DateError, match="the settlements reach 2024-03-06"):
        closing.close(store, "otto", portfolio, through=dt.date(2024, 3, 7))
    with pytest.raises(PermissionDenied, match="may not close day"):
        closing.close(store, "rita", portfolio, day=D1)
    with pytest.raises(ArgumentError, match="either one day"):
        closing.close(store, "otto", portfolio)
    with store.transaction() as session:
        assert session.execute(select(func.count()).select_from(LedgerPosting)).scalar() == 0


def test_booked_days_keep_what_they_were_booked_with(admin_users, data):
    store, portfolio = admin_users, load_portfolio(data)
    closing.close(store, "otto", portfolio, through=D3)
    # a credit manager lowers C2's limit to 0.50 after the days were booked: C2's exposure (1.00, the
    # chargeback risk of its recent sales) is then a breach, and by today's rules day 3's payout is blocked
    change_credit_limit(store, "carl", "C2", 50)
    assert booked(store, D3) == EXPECTED[D3]  # the booked day is unchanged
    diff = closing.verify(store, "rita", portfolio)
    # by the rules C2's settlement on day 3 would be +5000 - 100 = 4900; booked: 4900 - 14700 = -9800
    assert diff.to_dict("records") == [{"client_id": "C2", "day": pd.Timestamp(D3), "subaccount": "settlement",
                                        "booked_cents": -9800, "recomputed_cents": 4900,
                                        "difference_cents": 14700}]


def test_changed_settlement_rows_are_listed_then_corrected_on_the_next_open_day(admin_users, data):
    store = admin_users
    closing.close(store, "otto", load_portfolio(data), through=D2)
    # C2's day-2 fee is corrected from 1.00 to 3.00 by the acquirer after day 2 was booked
    path = data / "settlements.csv"
    path.write_text(path.read_text().replace("C2,2024-03-05,EUR,50.00,0.00,0.00,1.00",
                                             "C2,2024-03-05,EUR,50.00,0.00,0.00,3.00"))
    changed = load_portfolio(data)
    result = closing.close(store, "otto", changed, day=D3)
    assert result.booked == [] and [c.day for c in result.changed] == [D2]
    with pytest.raises(PermissionDenied):
        closing.correct(store, "otto", changed, "acquirer fee correction")
    with pytest.raises(ArgumentError, match="reason"):
        closing.correct(store, "fiona", changed, " ")
    done = closing.correct(store, "fiona", changed, "acquirer fee correction")
    assert done.posted_day == D3 and done.corrected_days == [D2] and done.postings == 1
    # the correction: +200 of fee for C2, posted on day 3 (the next open day), naming day 2; day 2 untouched
    assert booked(store, D2) == EXPECTED[D2]
    assert booked(store, D3) == [("C2", "fee", 200)]
    with store.transaction() as session:
        row = session.execute(select(LedgerPosting).where(LedgerPosting.correction_id.is_not(None))).scalar_one()
        assert row.corrects_day == D2
    assert closing.verify(store, "rita", changed).empty
    # the close goes on; day 3 now holds the correction and its own movements (C2 has 4900 + 4700 carried,
    # + 4900 on day 3 = 14500 >= 100.00: paid)
    assert closing.close(store, "otto", changed, day=D3).booked == [D3]
    assert ("C2", "payout", 14500) in booked(store, D3)
    assert closing.verify(store, "rita", changed).empty
    with pytest.raises(RefusedByRule, match="nothing to correct"):
        closing.correct(store, "fiona", changed, "again")
