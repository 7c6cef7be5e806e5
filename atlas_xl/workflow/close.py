"""The daily close: book each day's movements once as immutable postings, keep what a day was booked with,
correct booked days whose inputs changed (new postings on the next open day, never edits), verify the booked
ledger against the rules, export it as a general-ledger journal and lock periods.

One transaction per day: a close killed in the middle has booked each day fully or not at all. Writers are
serialised (store.database.write_lock; SQLite BEGIN IMMEDIATE) and `booked_days.day` is a primary key, so two
closes of the same day book it once: the second finds it booked and is a no-op.

What the engines still derive: every close runs the engines over the whole history up to the day it books
(`run_engines` as of that day) and takes that day's movements; the opening-balances table is booked as an
opening entry with the first close, but the engines do not start from it (their settlement balances start
from the clients' opening_balance column on the first data day, as before).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from atlas_xl.domain.model import Portfolio
from atlas_xl.engines import close as rules
from atlas_xl.engines.run import run_engines
from atlas_xl.errors import ArgumentError, DateError, RefusedByRule
from atlas_xl.settings import Settings
from atlas_xl.store import audit
from atlas_xl.store.database import Store
from atlas_xl.store.models import BookedDay, JournalExport, LedgerCorrection, LedgerPosting, PeriodLock
from atlas_xl.workflow.common import authorise, perform, utc_now
from atlas_xl.workflow.history import with_store_history
from atlas_xl.workflow.permissions import Action

ONE_DAY = dt.timedelta(days=1)
# tests/test_close_processes.py: with this set to a day (YYYY-MM-DD) the close stops inside that day's
# transaction, its postings written but not committed, says so on stderr and waits to be killed (kill -9)
PAUSE_ENV = "ATLAS_CLOSE_PAUSE_AT"


@dataclass(frozen=True)
class ChangedDay:
    """A booked day whose settlement rows are no longer those it was booked with."""

    day: dt.date
    booked_sha256: str
    current_sha256: str


@dataclass
class CloseResult:
    booked: list[dt.date] = field(default_factory=list)  # days this close booked
    already: list[dt.date] = field(default_factory=list)  # asked-for days booked before (same inputs)
    changed: list[ChangedDay] = field(default_factory=list)  # booked days whose inputs changed (exit 1)
    postings: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"booked": [d.isoformat() for d in self.booked], "already_booked": [d.isoformat() for d in self.already],
                "changed": [{"day": c.day.isoformat(), "booked_sha256": c.booked_sha256,
                             "current_sha256": c.current_sha256} for c in self.changed],
                "postings": self.postings}


# ---------------------------------------------------------------------------------------------- reading


def booked_state(session: Session) -> tuple[dict[dt.date, str], dt.date | None]:
    """Each booked day's accepted input hash (the latest correction's, else the booking's) and the lock."""
    hashes = {d: h for d, h in session.execute(select(BookedDay.day, BookedDay.settlements_sha256))}
    for day, sha in session.execute(select(LedgerCorrection.corrected_day, LedgerCorrection.settlements_sha256)
                                    .order_by(LedgerCorrection.id)):
        hashes[day] = sha
    lock = session.execute(select(func.max(PeriodLock.through_day))).scalar()
    return dict(sorted(hashes.items())), lock


def read_postings(session: Session, first: dt.date | None = None, last: dt.date | None = None, *,
                  by_corrected_day: bool = False) -> pd.DataFrame:
    """Booked postings on first..last (rules.POSTING_COLUMNS). `by_corrected_day`: a correction counts on the
    day it corrects (what that day should have been), not on the day it was posted."""
    day = func.coalesce(LedgerPosting.corrects_day, LedgerPosting.day) if by_corrected_day else LedgerPosting.day
    query = select(day.label("day"), LedgerPosting.client_id, LedgerPosting.kind, LedgerPosting.subaccount,
                   LedgerPosting.counter_subaccount, LedgerPosting.amount_cents)
    if first is not None:
        query = query.where(day >= first)
    if last is not None:
        query = query.where(day <= last)
    rows = session.execute(query.order_by(LedgerPosting.id)).all()
    frame = pd.DataFrame(rows, columns=rules.POSTING_COLUMNS)
    frame["day"] = pd.to_datetime(frame["day"]).astype("datetime64[s]")
    frame["amount_cents"] = frame["amount_cents"].astype("int64")
    return frame


def _insert(session: Session, frame: pd.DataFrame, **extra: object) -> int:
    if frame.empty:
        return 0
    records = [{"day": pd.Timestamp(r["day"]).date(), "client_id": str(r["client_id"]), "kind": str(r["kind"]),
                "subaccount": str(r["subaccount"]), "counter_subaccount": str(r["counter_subaccount"]),
                "amount_cents": int(r["amount_cents"]), **extra} for r in frame.to_dict("records")]
    session.execute(insert(LedgerPosting), records)
    return len(records)


def _prepared(store: Store, portfolio: Portfolio) -> Portfolio:
    if portfolio.settlements.empty:
        raise DateError("the settlements table is empty: there is no day to close; load the settlements first")
    return with_store_history(store, portfolio)[0]


def changed_days(portfolio: Portfolio, hashes: dict[dt.date, str]) -> list[ChangedDay]:
    current = rules.settlement_hashes(portfolio.settlements, list(hashes))
    return [ChangedDay(d, h, current[d]) for d, h in hashes.items() if current[d] != h]


# ---------------------------------------------------------------------------------------------- close


def close(store: Store, user: str | None, portfolio: Portfolio, *, day: dt.date | None = None,
          through: dt.date | None = None, opening: pd.DataFrame | None = None, settings: Settings | None = None,
          progress: Callable[[int, int, dt.date], None] | None = None) -> CloseResult:
    """Book `day` (the next open day, or an already booked one: a no-op) or every open day up to `through`.

    Refused: a gap (a day after the next open day), a day the settlements do not reach yet. Booked days whose
    settlement rows changed are listed in `changed` and nothing is booked (they need `correct`)."""
    if (day is None) == (through is None):
        raise ArgumentError("give either one day to close (--date) or the last day to close (--through)")
    last_asked = day if day is not None else through
    assert last_asked is not None
    with store.transaction() as session:
        authorise(session, user, Action.CLOSE_DAY)
        hashes, lock = booked_state(session)
    result = CloseResult()
    prepared = _prepared(store, portfolio)
    result.changed = changed_days(prepared, hashes)
    if result.changed:
        return result
    first_data = prepared.first_date.date()
    next_open = max(hashes) + ONE_DAY if hashes else first_data
    if day is not None and day < next_open:
        if day < first_data:
            raise DateError(f"{day.isoformat()} is before the first settlement date in the data "
                            f"({first_data.isoformat()}); there is nothing to book")
        result.already.append(day)
        return result
    if day is not None and day > next_open:
        raise RefusedByRule(f"cannot close {day.isoformat()}: {next_open.isoformat()} is not booked yet; days "
                            f"are closed in order (close {next_open.isoformat()} first, or use --through)")
    last_data = prepared.last_date.date()
    if last_asked > last_data:
        raise DateError(f"cannot close {last_asked.isoformat()}: the settlements reach {last_data.isoformat()}; "
                        "load that day's settlements first")
    days = [next_open + ONE_DAY * i for i in range((last_asked - next_open).days + 1)]
    if not days:
        result.already.append(last_asked)
        return result
    if lock is not None and days[0] <= lock:
        raise RefusedByRule(f"the ledger is locked through {lock.isoformat()}; cannot book {days[0].isoformat()}")
    # the engines are causal: one run as of the last day gives every earlier day's movements as a run as of
    # that day would (`close --verify` and tests/test_close.py check it)
    ledger = run_engines(prepared, last_asked, settings).ledger
    found = rules.postings(ledger, days[0], days[-1])
    day_hashes = rules.settlement_hashes(prepared.settlements, days)
    by_day = {d: g for d, g in found.groupby(found["day"].dt.date)}
    for i, booking in enumerate(days):
        frame = by_day.get(booking, found.iloc[0:0])
        if not hashes and i == 0 and opening is not None:
            frame = pd.concat([rules.opening_postings(opening, booking), frame], ignore_index=True)
        count = _book_day(store, user, booking, day_hashes[booking], frame)
        if count is None:
            result.already.append(booking)
        else:
            result.booked.append(booking)
            result.postings += count
        if progress is not None:
            progress(i + 1, len(days), booking)
    return result


def _book_day(store: Store, user: str | None, day: dt.date, sha: str, frame: pd.DataFrame) -> int | None:
    """Book one day in one transaction; None when it was booked meanwhile (another close) with these inputs."""

    def work(session: Session) -> int | None:
        actor = authorise(session, user, Action.CLOSE_DAY)
        existing = session.get(BookedDay, day)
        if existing is not None:
            if existing.settlements_sha256 != sha:
                raise RefusedByRule(f"{day.isoformat()} was booked meanwhile with other settlement rows")
            return None
        last = session.execute(select(func.max(BookedDay.day))).scalar()
        if last is not None and day != last + ONE_DAY:
            raise RefusedByRule(f"cannot close {day.isoformat()}: the last booked day is now {last.isoformat()}")
        count = _insert(session, frame)
        if os.environ.get(PAUSE_ENV) == day.isoformat():
            session.flush()
            print(f"paused in {day.isoformat()}", file=sys.stderr, flush=True)
            time.sleep(600)
        session.add(BookedDay(day=day, settlements_sha256=sha, postings=count, booked_by=actor.name,
                              booked_at=utc_now()))
        total = int(frame["amount_cents"].abs().sum()) if count else 0
        audit.append(session, actor=actor.name, action="close_day", entity="ledger", entity_id=day.isoformat(),
                     before=None, after={"day": day.isoformat(), "postings": count, "settlements_sha256": sha,
                                         "gross_cents": total})
        return count

    return perform(store, user, Action.CLOSE_DAY, "ledger", day.isoformat(), work)


# ---------------------------------------------------------------------------------------------- verify, correct


def _recomputed(store: Store, portfolio: Portfolio, first: dt.date, last: dt.date,
                settings: Settings | None) -> pd.DataFrame:
    prepared = _prepared(store, portfolio)
    if last > prepared.last_date.date():
        raise DateError(f"the booked days reach {last.isoformat()} but the settlements only "
                        f"{prepared.last_date.date().isoformat()}; load the data the days were booked from")
    return rules.postings(run_engines(prepared, last, settings).ledger, first, last)


def _engine_kinds(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame["kind"].isin(list(rules.OPENING_KINDS))]


def verify(store: Store, user: str | None, portfolio: Portfolio, settings: Settings | None = None) -> pd.DataFrame:
    """Recompute every booked day by the rules (today's data and store) and list the differences per client,
    day and subaccount (rules.differences); empty on an untouched store. The opening entry is not derived by
    the engines and is left out of the comparison."""
    with store.transaction() as session:
        authorise(session, user, Action.READ)
        hashes, _ = booked_state(session)
        if not hashes:
            return rules.differences(_empty(), _empty())
        first, last = min(hashes), max(hashes)
        booked = read_postings(session, first, last, by_corrected_day=True)
    return rules.differences(_engine_kinds(booked), _recomputed(store, portfolio, first, last, settings))


def _empty() -> pd.DataFrame:
    return rules._ordered([])


@dataclass(frozen=True)
class Correction:
    posted_day: dt.date
    corrected_days: list[dt.date]
    postings: int

    def to_dict(self) -> dict[str, object]:
        return {"posted_day": self.posted_day.isoformat(),
                "corrected_days": [d.isoformat() for d in self.corrected_days], "postings": self.postings}


def correct(store: Store, user: str | None, portfolio: Portfolio, reason: str,
            settings: Settings | None = None) -> Correction:
    """Correct the booked days from the first one whose settlement rows changed: recompute them by the rules and
    post the differences (per client, kind) on the next open day, naming the day each corrects. Audited."""
    reason = (reason or "").strip()
    if not reason:
        raise ArgumentError("a correction needs a reason (--reason TEXT)")
    with store.transaction() as session:
        authorise(session, user, Action.CORRECT_LEDGER)
        hashes, lock = booked_state(session)
    prepared = _prepared(store, portfolio)
    changed = changed_days(prepared, hashes)
    if not changed:
        raise RefusedByRule("no booked day has changed settlement rows: there is nothing to correct")
    first, last = changed[0].day, max(hashes)
    recomputed = _recomputed(store, portfolio, first, last, settings)
    posted_day = last + ONE_DAY
    current = rules.settlement_hashes(prepared.settlements, list(hashes))

    def work(session: Session) -> Correction:
        actor = authorise(session, user, Action.CORRECT_LEDGER)
        now_hashes, now_lock = booked_state(session)
        if now_hashes != hashes or now_lock != lock:
            raise RefusedByRule("the booked ledger changed while the correction was computed; run it again")
        booked = _engine_kinds(read_postings(session, first, last, by_corrected_day=True))
        diff = rules.kind_differences(booked, recomputed)
        count = 0
        days = [d for d in hashes if d >= first]
        for day in days:
            row = LedgerCorrection(corrected_day=day, posted_day=posted_day, settlements_sha256=current[day],
                                   reason=reason[:500], corrected_by=actor.name, corrected_at=utc_now())
            session.add(row)
            session.flush()
            part = diff[diff["day"].dt.date == day].assign(day=pd.Timestamp(posted_day))
            count += _insert(session, part, corrects_day=day, correction_id=row.id)
        audit.append(session, actor=actor.name, action="correct_ledger", entity="ledger",
                     entity_id=posted_day.isoformat(), before={"changed": [c.day.isoformat() for c in changed]},
                     after={"posted_day": posted_day.isoformat(), "postings": count, "reason": reason[:500]})
        return Correction(posted_day, days, count)

    return perform(store, user, Action.CORRECT_LEDGER, "ledger", posted_day.isoformat(), work)


# ---------------------------------------------------------------------------------------------- journal


@dataclass(frozen=True)
class JournalResult:
    export_id: str
    from_day: dt.date
    to_day: dt.date
    already_exported: bool
    lines: pd.DataFrame  # rules.JOURNAL_COLUMNS
    safeguarding: pd.DataFrame
    locked_through: dt.date | None

    def to_dict(self) -> dict[str, object]:
        return {"export_id": self.export_id, "from": self.from_day.isoformat(), "to": self.to_day.isoformat(),
                "already_exported": self.already_exported, "entries": int(self.lines["entry"].nunique()),
                "debit_cents": int(self.lines["debit_cents"].sum()),
                "credit_cents": int(self.lines["credit_cents"].sum()),
                "locked_through": None if self.locked_through is None else self.locked_through.isoformat()}


def lines_sha256(lines: pd.DataFrame) -> str:
    text = lines.astype(str).to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode()).hexdigest()


def export_journal(store: Store, user: str | None, first: dt.date, last: dt.date, mapping: pd.DataFrame,
                   by_client: bool = False) -> JournalResult:
    """The booked postings of first..last as journal lines (rules.journal_lines), recorded as an export: the
    same period, form and entries again is the same export (already_exported)."""
    if last < first:
        raise ArgumentError(f"--to {last.isoformat()} is before --from {first.isoformat()}")

    def work(session: Session) -> JournalResult:
        actor = authorise(session, user, Action.EXPORT_JOURNAL)
        hashes, lock = booked_state(session)
        if not hashes or last > max(hashes) or first < min(hashes):
            span = f"{min(hashes).isoformat()} to {max(hashes).isoformat()}" if hashes else "none yet"
            raise RefusedByRule(f"the period {first.isoformat()} to {last.isoformat()} is not booked in full "
                                f"(booked days: {span}); close the days first")
        booked = read_postings(session, first, last)
        try:
            lines = rules.journal_lines(booked, mapping, by_client)
        except KeyError as missing:
            pairs = ", ".join(f"{k}/{s}" for k, s in missing.args[0])
            raise ArgumentError(f"the chart of accounts has no row for {pairs}; expected a row (kind, subaccount, "
                                "debit_account, credit_account) for each") from None
        sha = lines_sha256(lines)
        row = session.execute(select(JournalExport).where(
            JournalExport.from_day == first, JournalExport.to_day == last, JournalExport.by_client == by_client,
            JournalExport.entries_sha256 == sha)).scalar_one_or_none()
        already = row is not None
        if row is None:
            row = JournalExport(from_day=first, to_day=last, by_client=by_client, entries_sha256=sha,
                                entries=int(lines["entry"].nunique()), exported_by=actor.name,
                                exported_at=utc_now())
            session.add(row)
            session.flush()
            audit.append(session, actor=actor.name, action="export_journal", entity="journal",
                         entity_id=f"J{row.id}", before=None,
                         after={"from": first.isoformat(), "to": last.isoformat(), "by_client": by_client,
                                "entries": row.entries, "entries_sha256": sha})
        all_booked = read_postings(session, None, last)
        days = [d for d in hashes if d <= last]
        guard = rules.safeguarding(all_booked, days)
        guard = guard[guard["day"] >= first].reset_index(drop=True)
        return JournalResult(f"J{row.id}", first, last, already, lines, guard, lock)

    return perform(store, user, Action.EXPORT_JOURNAL, "journal", f"{first.isoformat()}..{last.isoformat()}", work)


def lock_period(store: Store, user: str | None, through: dt.date) -> dt.date:
    """Lock the ledger through `through` (a booked day): no posting may stand on or before it afterwards."""

    def work(session: Session) -> dt.date:
        actor = authorise(session, user, Action.LOCK_PERIOD)
        hashes, lock = booked_state(session)
        if not hashes or through > max(hashes):
            raise RefusedByRule(f"cannot lock through {through.isoformat()}: it is not booked yet "
                                f"(last booked day: {max(hashes).isoformat() if hashes else 'none'})")
        if lock is not None and through <= lock:
            return lock
        session.add(PeriodLock(through_day=through, locked_by=actor.name, locked_at=utc_now()))
        audit.append(session, actor=actor.name, action="lock_period", entity="ledger", entity_id=through.isoformat(),
                     before={"locked_through": None if lock is None else lock.isoformat()},
                     after={"locked_through": through.isoformat()})
        return through

    return perform(store, user, Action.LOCK_PERIOD, "ledger", through.isoformat(), work)
