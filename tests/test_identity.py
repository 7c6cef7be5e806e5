"""Who acts (issue 17): the OS account on SQLite, session_user on PostgreSQL, a claimed name only in a demo store.

The OS-account tests run subprocesses as accounts every Debian machine has (daemon, bin) with setpriv; that needs
root (the tests run as root here and in CI; a developer runs them with sudo). The interpreter lives under /root
(mode 0700) on CI, so the account keeps CAP_DAC_READ_SEARCH/CAP_DAC_OVERRIDE to reach it: file access only, the
process's user id (what Atlas reads) is the account's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import DBAPIError

from atlas_xl.cli.app import main
from atlas_xl.errors import ArgumentError, PermissionDenied, RefusedByRule
from atlas_xl.store import audit
from atlas_xl.store.database import Store, open_store
from atlas_xl.store.models import AuditEntry, AuditHead, StoreKind
from atlas_xl.workflow.common import os_account, whoami
from atlas_xl.workflow.execution import execute_run
from atlas_xl.workflow.runs import approve_run, propose_run
from atlas_xl.workflow.users import add_user
from tests.pg_fixtures import *  # noqa: F403
from tests.pg_fixtures import PgServer, make_payouts

REPO = Path(__file__).resolve().parent.parent
DAY = "2024-03-28"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="runs commands as other OS accounts: run with sudo")


def _as(account: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`atlas-xl ARGS` run by the OS account `account` (uid and gid), with $USER/$LOGNAME saying someone else."""
    caps = "+dac_read_search,+dac_override"
    base = {k: v for k, v in os.environ.items() if k not in ("ATLAS_USER",)}
    command = ["setpriv", f"--reuid={account}", f"--regid={account}", "--clear-groups", f"--inh-caps={caps}",
               f"--ambient-caps={caps}", sys.executable, "-m", "atlas_xl", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd="/tmp",
                          env={**base, "PYTHONPATH": str(REPO), "USER": "mallory", "LOGNAME": "mallory",
                               **(env or {})})


@pytest.fixture
def shared_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A normal SQLite store in a folder every account may write (0777, file 0666); root is its first admin."""
    folder = tmp_path_factory.mktemp("shared")
    os.chmod(folder, 0o777)
    url = f"sqlite:///{folder / 'atlas.db'}"
    store = open_store(url)
    assert not store.demo
    add_user(store, None, os_account(), "admin")
    add_user(store, None, "daemon", "operations")
    add_user(store, None, "bin", "finance")
    store.dispose()
    os.chmod(folder / "atlas.db", 0o666)
    return url


@needs_root
def test_sqlite_acts_as_the_os_account_whatever_user_logname_and_atlas_user_say(shared_sqlite: str,
                                                                                 example_data_dir: Path) -> None:
    db = ["--db", shared_sqlite]
    proposed = _as("daemon", "payouts", "propose", "--data", str(example_data_dir), *db, "--json")
    assert proposed.returncode == 0, proposed.stderr
    run = json.loads(proposed.stdout)
    assert run["proposed_by"] == "daemon"  # not mallory ($USER, $LOGNAME)
    # daemon (operations) may not approve, whatever ATLAS_USER or --user say: both are refused outright
    claimed = _as("daemon", "payouts", "approve", run["ref"], *db, env={"ATLAS_USER": "bin"})
    assert claimed.returncode == 3 and "only in a demo store" in claimed.stderr, claimed.stderr
    claimed = _as("daemon", "payouts", "approve", run["ref"], *db, "--user", "bin")
    assert claimed.returncode == 3 and "your operating-system account" in claimed.stderr
    own = _as("daemon", "payouts", "approve", run["ref"], *db)
    assert own.returncode == 3 and "'daemon' (role operations) may not approve" in own.stderr
    approved = _as("bin", "payouts", "approve", run["ref"], *db)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"bin approved run {run['ref']} (1/2)")
    assert "four-eyes is advisory" in approved.stdout  # every approval on SQLite says so
    again = _as("bin", "payouts", "approve", run["ref"], *db)
    assert again.returncode == 3 and "already approved" in again.stderr  # a second approval needs another account
    store = open_store(shared_sqlite)
    with store.transaction() as s:
        actors = [(e.actor, e.action) for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]
    assert ("daemon", "propose") in actors and ("bin", "approve") in actors
    assert not [a for a, _ in actors if a in ("mallory", "bin (demo)")]
    # the refused --user claims were recorded against the real account, never against the claimed name
    assert actors.count(("daemon", "refused")) == 3


def test_a_normal_store_refuses_a_claimed_name_even_the_admins_own_users(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'atlas.db'}"
    store = open_store(url)
    me = os_account()
    with pytest.raises(PermissionDenied, match=f"first admin of a store is the person setting it up: '{me}'"):
        add_user(store, None, "ada", "admin")
    add_user(store, None, me, "admin")
    add_user(store, None, "olga", "operations")  # the admin creates olga ...
    with pytest.raises(PermissionDenied, match="may name the acting user only in a demo store"):
        propose_run(store, make_payouts({"C001": 100}), DAY, "olga")  # ... and cannot act as her
    with store.transaction() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert (last.actor, last.action) == (me, "refused") and "olga" not in last.after_json
    assert whoami(store) == me
    assert main(["users", "list", "--db", url, "--user", "olga"]) == 3
    assert "only in a demo store" in capsys.readouterr().err


def test_the_demo_flag_is_fixed_for_the_life_of_the_store(db_url: str) -> None:
    demo = open_store(db_url, demo=True)
    assert demo.demo
    for change in (update(StoreKind).values(demo=False), text("DELETE FROM store_kind")):
        with pytest.raises(DBAPIError, match="fixed when the store is created"), demo.transaction() as s:
            s.execute(change)
    with pytest.raises(DBAPIError), demo.transaction() as s:  # a second row
        s.execute(text("INSERT INTO store_kind (id, demo, created_at) VALUES (2, false, CURRENT_TIMESTAMP)"))
    with pytest.raises(RefusedByRule, match="is a demo store and cannot become a normal one"):
        open_store(db_url, demo=False)
    assert open_store(db_url).demo
    demo.dispose()


def test_a_normal_store_never_becomes_a_demo_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'atlas.db'}"
    assert main(["store", "init", "--db", url]) == 0
    with pytest.raises(RefusedByRule, match="is a normal store and cannot become a demo one"):
        open_store(url, demo=True)
    assert main(["store", "init", "--demo", "--db", url]) == 1


def test_a_demo_store_says_demo_in_output_audit_and_payment_file(admin_users: Store, tmp_path: Path,
                                                                 capsys) -> None:
    store = admin_users
    run = propose_run(store, make_payouts({"C001": 50_00}), DAY, "otto").run
    approve_run(store, run.ref, "fiona")
    result = execute_run(store, run.ref, "felix", tmp_path)
    assert result.xml_path.name == f"DEMO-payout-run-R{run.run_id}.xml"
    assert result.reviewer_path is not None and result.reviewer_path.name.startswith("DEMO-")
    doc = etree.fromstring(result.xml_path.read_bytes())
    msg_id = doc.xpath("string(//*[local-name()='GrpHdr']/*[local-name()='MsgId'])")
    pmt_id = doc.xpath("string(//*[local-name()='PmtInf']/*[local-name()='PmtInfId'])")
    assert msg_id == f"DEMO-ATLAS-20240328-R{run.run_id}" and pmt_id == f"{msg_id}-P1"
    with store.transaction() as s:
        actors = {e.actor for e in s.execute(select(AuditEntry)).scalars()}
    assert {"ada (demo)", "otto (demo)", "fiona (demo)", "felix (demo)"} <= actors
    assert all(a.endswith(" (demo)") for a in actors)
    url = store.url.render_as_string(hide_password=False)
    assert main(["payouts", "list", "--db", url, "--user", "rita"]) == 0
    assert capsys.readouterr().out.startswith("DEMO store (not for real money): R1")
    assert main(["payouts", "list", "--db", url, "--user", "rita", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["demo"] is True


@pytest.mark.parametrize("bad", ["olga\n", "ol ga", "olga\nfred", "o" * 65, "", "olga@x", "ölga"])
def test_user_names_are_one_pattern(admin_users: Store, bad: str) -> None:
    with pytest.raises(ArgumentError, match="is not a user name; expected 1-64 of A-Z a-z 0-9 . _ -"):
        add_user(admin_users, "ada", bad, "risk")
    if bad.strip():  # a claimed name outside the pattern is refused and nothing of it reaches the audit trail
        with admin_users.transaction() as s:
            before = s.execute(select(AuditHead.seq)).scalar_one()
        with pytest.raises(ArgumentError):
            propose_run(admin_users, make_payouts({"C001": 100}), DAY, bad)
        with admin_users.transaction() as s:
            assert s.execute(select(AuditHead.seq)).scalar_one() == before


def test_user_names_are_unique_ignoring_case(admin_users: Store) -> None:
    with pytest.raises(Exception, match="'olga' already exists"):
        add_user(admin_users, "ada", "OLGA", "risk")
    assert whoami(admin_users, "OLGA") == "olga"


def test_a_refused_read_writes_no_audit_entry(admin_users: Store, capsys) -> None:
    url = admin_users.url.render_as_string(hide_password=False)
    with admin_users.transaction() as s:
        before = s.execute(select(AuditHead.seq)).scalar_one()
    for argv in (["audit", "verify"], ["audit", "show"], ["payouts", "list"], ["payouts", "show", "R1"]):
        assert main([*argv, "--db", url, "--user", "stranger"]) == 3
        assert main([*argv, "--db", url]) == 3  # no acting user at all
    with admin_users.transaction() as s:
        assert s.execute(select(AuditHead.seq)).scalar_one() == before


def test_a_checkpoint_finds_a_chain_rewritten_with_recomputed_hashes(admin_users: Store, tmp_path: Path,
                                                                    capsys) -> None:
    url = admin_users.url.render_as_string(hide_password=False)
    point = tmp_path / "checkpoint.json"
    assert main(["audit", "export", "--out", str(point), "--db", url, "--user", "rita"]) == 0
    saved = json.loads(point.read_text())
    assert saved["head_seq"] == 8 and len(saved["hashes"]) == 8  # ada + seven users added
    assert main(["audit", "verify", "--against", str(point), "--db", url, "--user", "rita"]) == 0
    # an attacker with write access rewrites entry 3 (olga -> mallory) and recomputes every later hash
    with admin_users.transaction() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        prev = entries[1].hash
        for entry in entries[2:]:
            if entry.seq == 3:
                entry.after_json = entry.after_json.replace('"olga"', '"mallory"')
            entry.prev_hash = prev
            entry.hash = audit.entry_hash(prev, audit.entry_payload(entry))
            prev = entry.hash
        s.flush()
        s.execute(update(AuditHead).values(hash=prev))
    capsys.readouterr()
    assert main(["audit", "verify", "--db", url, "--user", "rita"]) == 0  # the chain alone looks intact
    assert main(["audit", "verify", "--against", str(point), "--db", url, "--user", "rita"]) == 1
    assert "entry 3 differs from the checkpoint" in capsys.readouterr().out
    tampered = {**saved, "head_seq": 2}
    point.write_text(json.dumps(tampered))
    assert main(["audit", "verify", "--against", str(point), "--db", url, "--user", "rita"]) == 2
    assert "does not match its sha256" in capsys.readouterr().err


@pytest.mark.postgres
def test_postgresql_acts_as_session_user_not_a_claim_nor_set_role(pg_server: PgServer) -> None:
    url = pg_server.create_database()
    store = open_store(url)  # a normal store: the login acts
    with store.engine.begin() as conn:
        conn.execute(text("DO $$ BEGIN CREATE ROLE olga LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"))
        conn.execute(text("DO $$ BEGIN CREATE ROLE fred LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"))
        conn.execute(text("GRANT ALL ON ALL TABLES IN SCHEMA public TO olga, fred"))
        conn.execute(text("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO olga, fred"))
        conn.execute(text("GRANT fred TO olga"))
    add_user(store, None, "postgres", "admin")  # the DBA's login bootstraps the store
    with pytest.raises(ArgumentError, match="no PostgreSQL login 'nologin'"):
        add_user(store, None, "nologin", "risk")
    add_user(store, None, "olga", "operations")
    add_user(store, None, "fred", "finance")
    olga = open_store(url.replace("postgres:", "olga:", 1))
    fred = open_store(url.replace("postgres:", "fred:", 1))
    run = propose_run(olga, make_payouts({"C001": 100}), DAY, None).run
    assert run.proposed_by == "olga"
    with pytest.raises(PermissionDenied, match="only in a demo store; this store acts as your PostgreSQL login"):
        approve_run(olga, run.ref, "fred")
    # SET ROLE fred changes current_user, not session_user: olga is still the one acting
    olga.engine.dispose()
    event.listen(olga.engine, "connect", lambda conn, _: conn.cursor().execute("SET ROLE fred"))
    with olga.engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar_one() == "fred"
    assert whoami(olga) == "olga"
    with pytest.raises(PermissionDenied, match="'olga' \\(role operations\\) may not approve"):
        approve_run(olga, run.ref, None)
    assert approve_run(fred, run.ref, None).approvals == ("fred",)
    for opened in (olga, fred, store):
        opened.dispose()
