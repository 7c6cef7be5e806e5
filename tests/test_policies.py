"""Payment policies (issue 16): the controls live in the store, change only with a second admin, are audited with
before/after, are recorded in each run's snapshot, and settings may only make them stricter. SQLite and the real
PostgreSQL (tests/pg_fixtures.py BACKENDS); nothing mocked."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from atlas_xl.cli.app import main
from atlas_xl.errors import ArgumentError, ConfigError, PermissionDenied, WorkflowError
from atlas_xl.inputs.environment import payment_requests
from atlas_xl.settings import Settings
from atlas_xl.store.database import Store
from atlas_xl.store.models import AuditEntry, PaymentPolicy
from atlas_xl.workflow.audit_queries import verify_audit
from atlas_xl.workflow.execution import execute_run
from atlas_xl.workflow.policies import (
    PolicyValues,
    apply_policy,
    approve_policy,
    list_policies,
    payment_settings,
    policy_in_force,
    propose_policy,
    show_policy,
)
from atlas_xl.workflow.runs import approve_run, list_runs, propose_from_data, propose_run, show_run
from atlas_xl.workflow.users import add_user
from tests.pg_fixtures import *  # noqa: F403
from tests.pg_fixtures import make_payouts

DEMO_NOTICE = "DEMO store (not for real money): "
DAY = date(2024, 3, 28)


@pytest.fixture
def admins(admin_users: Store) -> Store:
    """admin_users plus a second admin, alex (a policy change needs two admins)."""
    add_user(admin_users, "ada", "alex", "admin")
    return admin_users


def _policy_audit(store: Store) -> list[tuple[str, str, str, dict | None, dict]]:
    with store.transaction() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.entity == "policy").order_by(AuditEntry.seq)).scalars()
        return [(e.actor, e.action, e.entity_id, json.loads(e.before_json), json.loads(e.after_json)) for e in rows]


def _set_policy(store: Store, **changes: int | str) -> str:
    ref = propose_policy(store, "ada", **changes).ref
    return approve_policy(store, "alex", ref).ref


# ------------------------------------------------------------------------------------------ initial policy


def test_a_fresh_store_starts_with_todays_defaults_audited_once(admins: Store) -> None:
    first = show_policy(admins, "rita")  # any role reads it
    assert (first.ref, first.status, first.proposed_by) == ("P1", "in_force", "(initial policy)")
    values = first.values
    assert values.dual_approval_cents == 100_000_00  # EUR 100,000.00
    assert (values.warning_ppm, values.breach_ppm) == (800_000, 1_000_000)  # 0.8 and 1.0 of the limit
    assert (values.debtor_iban, values.debtor_bic) == ("DE89370400440532013000", "COBADEFFXXX")
    assert values == PolicyValues.defaults()  # the migration's frozen values are today's Settings defaults
    run = propose_run(admins, make_payouts({"C001": 1_00}), DAY, "otto").run
    with admins.transaction() as s:  # until a change, each run's propose entry carries the policy in full
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "propose")).scalar_one()
    assert json.loads(entry.after_json)["policy"] == run.policy and run.policy["dual_approval_cents"] == 100_000_00
    assert _policy_audit(admins) == []
    propose_policy(admins, "ada", breach_ppm=900_000)
    propose_policy(admins, "alex", breach_ppm=950_000)
    (actor, action, entity_id, before, after), *rest = _policy_audit(admins)  # before the first change, once
    # the tests' stores are demo stores: every audit actor carries the mark (tests/test_identity.py)
    assert (actor, action, entity_id, before) == ("(initial policy) (demo)", "policy_initial", "P1", None)
    assert after["dual_approval_cents"] == 100_000_00 and after["policy"] == "P1"
    assert [a for _, a, _, _, _ in rest] == ["policy_propose", "policy_propose"]
    assert verify_audit(admins, "ada").ok


# ------------------------------------------------------------------------------------------ four eyes


def test_a_policy_change_needs_a_second_admin(admins: Store) -> None:
    with pytest.raises(PermissionDenied, match="'otto' .*may not propose policy"):
        propose_policy(admins, "otto", dual_approval_cents=50_000_00)
    proposed = propose_policy(admins, "ada", dual_approval_cents=50_000_00, breach_ppm=900_000)
    assert (proposed.ref, proposed.status, proposed.based_on) == ("P2", "proposed", 1)
    assert show_policy(admins, "ada").ref == "P1"  # not in force before the second admin approves
    with pytest.raises(PermissionDenied, match="'ada' proposed policy P2 and may not approve it"):
        approve_policy(admins, "ada", "P2")
    with pytest.raises(PermissionDenied, match="'fiona' .*may not approve policy"):
        approve_policy(admins, "fiona", "P2")
    approved = approve_policy(admins, "alex", "p2")
    assert (approved.status, approved.approved_by) == ("in_force", "alex")
    now = show_policy(admins, "rita")
    assert (now.ref, now.values.dual_approval_cents, now.values.breach_ppm) == ("P2", 50_000_00, 900_000)
    assert [(p.ref, p.status) for p in list_policies(admins, "rita")] == [("P1", "replaced"), ("P2", "in_force")]
    with pytest.raises(WorkflowError, match="P2 is in force; only a proposed policy"):
        approve_policy(admins, "alex", "P2")
    trail = [entry for entry in _policy_audit(admins) if entry[1] != "refused"]
    assert [(a, act, e) for a, act, e, _, _ in trail] == [
        ("(initial policy) (demo)", "policy_initial", "P1"), ("ada (demo)", "policy_propose", "P2"),
        ("alex (demo)", "policy_approve", "P2")]
    _, _, _, before, after = trail[-1]  # the approval's before/after: P1's values -> P2's
    assert (before["policy"], before["dual_approval_cents"], before["breach_ppm"]) == ("P1", 100_000_00, 1_000_000)
    assert (after["policy"], after["dual_approval_cents"], after["breach_ppm"]) == ("P2", 50_000_00, 900_000)
    with admins.transaction() as s:  # the refused self-approval and the non-admins are in the trail too
        refused = s.execute(select(AuditEntry.actor).where(AuditEntry.action == "refused")).scalars().all()
    assert sorted(refused) == ["ada (demo)", "fiona (demo)", "otto (demo)"]  # demo stores mark every actor
    assert verify_audit(admins, "ada").ok


def test_a_proposal_overtaken_by_another_change_is_refused(admins: Store) -> None:
    first = propose_policy(admins, "ada", dual_approval_cents=50_000_00).ref
    second = propose_policy(admins, "alex", breach_ppm=950_000).ref
    approve_policy(admins, "alex", first)
    with pytest.raises(WorkflowError, match="proposed as a change of P1, but P2 is in force"):
        approve_policy(admins, "ada", second)  # would silently undo P2's threshold
    assert show_policy(admins, "ada").values.dual_approval_cents == 50_000_00


@pytest.mark.parametrize(("changes", "message"), [
    ({"debtor_iban": "BE65001983341924"}, "debtor account: IBAN 'BE65001983341924' is invalid"),  # national digits
    ({"debtor_iban": "DE89370400440532013001"}, "debtor account"),  # IBAN check digits
    ({"debtor_bic": "NOTABIC"}, "debtor account"),
    ({"debtor_name": "   "}, "debtor name"),
    ({"dual_approval_cents": 0}, "dual-approval threshold 0 cents is not valid"),
    ({"warning_ppm": 1_100_000}, "warning threshold 1.1 is above the breach threshold 1"),
    ({"breach_ppm": 25_000_000}, "breach threshold 25000000 ppm is not valid"),
])
def test_bad_controls_are_refused_when_set(admins: Store, changes: dict, message: str) -> None:
    with pytest.raises(ArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        propose_policy(admins, "ada", **changes)
    assert [p.ref for p in list_policies(admins, "ada")] == ["P1"]  # nothing was proposed


def test_a_valid_debtor_account_is_stored_compact(admins: Store) -> None:
    _set_policy(admins, debtor_iban="de02 1203 0000 0000 2020 51", debtor_bic="BYLADEM1001",
                debtor_name="Atlas Settlement GmbH")
    values = show_policy(admins, "ada").values
    assert (values.debtor_iban, values.debtor_bic, values.debtor_name) == (
        "DE02120300000000202051", "BYLADEM1001", "Atlas Settlement GmbH")
    with pytest.raises(ArgumentError, match="changes nothing"):
        propose_policy(admins, "ada", debtor_bic="BYLADEM1001")


# ------------------------------------------------------------------------------------------ stricter only


def test_environment_cannot_loosen_dual_approval(admins: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 16: ATLAS_DUAL_APPROVAL_EUR=1000000000 made a EUR 150,000 run need one approval
    monkeypatch.setenv("ATLAS_DUAL_APPROVAL_EUR", "1000000000")
    with pytest.raises(ConfigError, match="ATLAS_DUAL_APPROVAL_EUR EUR 1,000,000,000.00 would loosen payment policy "
                                          r"P1 \(dual approval from EUR 100,000.00\).*atlas-xl policy propose"):
        propose_run(admins, make_payouts({"C001": 150_000_00}), DAY, "otto")
    assert list_runs(admins, "ada") == []
    monkeypatch.setenv("ATLAS_DUAL_APPROVAL_EUR", "100")  # stricter: allowed for this command
    run = propose_run(admins, make_payouts({"C001": 150_00}), DAY, "otto").run
    assert run.approvals_required == 2  # EUR 150.00 >= EUR 100.00
    assert run.policy is not None and run.policy["applied"]["dual_approval_cents"] == 100_00
    monkeypatch.delenv("ATLAS_DUAL_APPROVAL_EUR")
    run = propose_run(admins, make_payouts({"C001": 150_00}), DAY, "otto").run
    assert run.approvals_required == 1  # the policy's EUR 100,000.00
    big = propose_run(admins, make_payouts({"C001": 150_000_00}), DAY, "otto").run
    assert big.approvals_required == 2


def test_api_settings_cannot_loosen_either(admins: Store) -> None:
    with pytest.raises(ConfigError, match="Settings.dual_approval_cents EUR 1,000,000.00 would loosen"):
        propose_run(admins, make_payouts({"C001": 150_000_00}), DAY, "otto",
                    settings=Settings(dual_approval_cents=1_000_000_00))
    with pytest.raises(ConfigError, match="paying account DE02120300000000202051 is not policy P1's"):
        propose_run(admins, make_payouts({"C001": 1_00}), DAY, "otto",
                    settings=Settings(debtor_iban="DE02120300000000202051"))
    _set_policy(admins, dual_approval_cents=1_000_000_00)  # now the admins allow it
    run = propose_run(admins, make_payouts({"C001": 150_000_00}), DAY, "otto",
                      settings=Settings(dual_approval_cents=1_000_000_00)).run
    assert (run.approvals_required, run.policy["policy"]) == (1, "P2")


def test_environment_cannot_loosen_the_breach_gate(admins: Store, monkeypatch: pytest.MonkeyPatch,
                                                    example_data_dir: Path) -> None:
    # issue 16: ATLAS_BREACH_THRESHOLD=1000 paid a client at 250 % of its limit
    for text, shown in (("1000", "1000"), ("2.5", "2.5"), ("1.000001", "1")):
        monkeypatch.setenv("ATLAS_BREACH_THRESHOLD", text)
        with pytest.raises(ConfigError, match=f"ATLAS_BREACH_THRESHOLD {shown} would loosen payment policy P1 "
                                              r"\(breach threshold 1\)"):
            propose_from_data(admins, "otto", example_data_dir)
    monkeypatch.setenv("ATLAS_BREACH_THRESHOLD", "0.9")  # stricter: allowed
    monkeypatch.setenv("ATLAS_WARNING_THRESHOLD", "0.7")
    settings = payment_settings(admins)
    assert (settings.breach_ppm, settings.warning_ppm) == (900_000, 700_000)
    run = propose_from_data(admins, "otto", example_data_dir).run
    assert run.policy["applied"] == {"breach_ppm": 900_000, "dual_approval_cents": 100_000_00, "warning_ppm": 700_000}
    monkeypatch.setenv("ATLAS_WARNING_THRESHOLD", "0.85")  # a looser warning is refused as well
    with pytest.raises(ConfigError, match=r"ATLAS_WARNING_THRESHOLD 0.85 would loosen .*warning threshold 0.8"):
        payment_settings(admins)


def test_a_looser_breach_needs_the_policy(admins: Store) -> None:
    with admins.transaction() as s:
        p1 = policy_in_force(s)
        with pytest.raises(ConfigError, match="would loosen"):
            apply_policy(p1, None, {"breach_ppm": ("--breach", 2_500_000)})
        assert apply_policy(p1, None, {"breach_ppm": ("--breach", 900_000)}).breach_ppm == 900_000
        # a stricter breach below the policy's warning pulls the warning down with it (warning <= breach)
        strict = apply_policy(p1, None, {"breach_ppm": ("--breach", 500_000)})
        assert (strict.warning_ppm, strict.breach_ppm) == (500_000, 500_000)
    _set_policy(admins, breach_ppm=1_200_000)
    with admins.transaction() as s:
        assert apply_policy(policy_in_force(s)).breach_ppm == 1_200_000  # no request: the policy's value


def test_debtor_variables_are_refused_naming_the_policy_command(admins: Store,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_DEBTOR_IBAN", "DE02120300000000202051")
    with pytest.raises(ConfigError, match="ATLAS_DEBTOR_IBAN is set.*atlas-xl policy propose --debtor-iban"):
        propose_run(admins, make_payouts({"C001": 1_00}), DAY, "otto")
    with pytest.raises(ConfigError, match="ATLAS_DEBTOR_IBAN"):
        payment_requests()
    assert list_runs(admins, "ada") == []
    assert payment_requests({"ATLAS_DEBTOR_NAME": ""}) == {}  # set but empty: nothing to refuse


# ------------------------------------------------------------------------------------------ snapshot


def test_the_snapshot_records_the_policy_and_its_hash_covers_it(admins: Store) -> None:
    frame = make_payouts({"C001": 10_00, "C002": 20_00})
    first = propose_run(admins, frame, DAY, "otto").run
    assert first.policy is not None and first.policy["policy"] == "P1"
    # the hash recomputed independently: canonical JSON of the payouts in client order and the policy record
    payouts = [[r["client_id"], r["name"], r["country"], r["iban"], r["bic"], int(r["amount_cents"]),
                r["remittance"]] for r in frame.sort_values("client_id").to_dict("records")]
    canon = json.dumps({"payouts": payouts, "policy": first.policy}, sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False)
    assert first.snapshot_sha256 == hashlib.sha256(canon.encode()).hexdigest()
    _set_policy(admins, debtor_iban="DE02120300000000202051", debtor_bic="BYLADEM1001")
    second = propose_run(admins, frame, DAY, "otto").run  # the same payouts under P2
    assert second.policy["policy"] == "P2" and second.policy["debtor_iban"] == "DE02120300000000202051"
    assert second.snapshot_sha256 != first.snapshot_sha256
    shown = show_run(admins, second.ref, "rita").summary
    assert shown.policy == second.policy and shown.to_dict()["policy"]["policy"] == "P2"


def test_a_run_proposed_under_an_older_policy_must_be_proposed_again(admins: Store, tmp_path: Path) -> None:
    """The rule: a run is approved and executed only under the policy it was proposed under; once another
    policy is in force it is refused at approve and at execute (nothing paid) and its date is proposed again."""
    proposed = propose_run(admins, make_payouts({"C001": 10_00}), DAY, "otto").run
    approved = propose_run(admins, make_payouts({"C002": 20_00}), date(2024, 3, 27), "otto").run
    approve_run(admins, approved.ref, "fiona")
    _set_policy(admins, dual_approval_cents=5_00)
    with pytest.raises(WorkflowError, match=f"run {proposed.ref} was proposed under policy P1, but policy P2 is in "
                                            "force now; it cannot be approved: propose 2024-03-28 again"):
        approve_run(admins, proposed.ref, "fiona")
    with pytest.raises(WorkflowError, match=f"run {approved.ref} was proposed under policy P1.*cannot be executed"):
        execute_run(admins, approved.ref, "felix", tmp_path)
    assert not tmp_path.exists() or not list(tmp_path.iterdir())  # nothing written, nothing paid
    again = propose_run(admins, make_payouts({"C002": 20_00}), date(2024, 3, 27), "otto").run
    assert (again.policy["policy"], again.approvals_required) == ("P2", 2)  # EUR 20.00 >= EUR 5.00 under P2
    approve_run(admins, again.ref, "fiona")
    approve_run(admins, again.ref, "frida")
    result = execute_run(admins, again.ref, "felix", tmp_path)
    assert b"<IBAN>DE89370400440532013000</IBAN>" in result.xml_path.read_bytes()  # P2 kept P1's account


# ------------------------------------------------------------------------------------------ CLI


def test_policy_commands(admins: Store, capsys: pytest.CaptureFixture[str]) -> None:
    db = admins.url.render_as_string(hide_password=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--db", db])
        out = capsys.readouterr()
        return code, out.out.removeprefix(DEMO_NOTICE), out.err  # the tests' store is a demo store

    code, out, _ = run("policy", "show", "--user", "rita")
    assert code == 0 and out.startswith("P1  in_force   dual approval from EUR 100,000.00; warning 0.8, breach 1;")
    code, out, _ = run("policy", "propose", "--dual-approval-eur", "50000", "--breach", "0.95", "--user", "ada")
    assert code == 0 and "proposed policy P2" in out and "atlas-xl policy approve P2" in out
    code, _, err = run("policy", "approve", "P2", "--user", "ada")
    assert code == 3 and "may not approve it" in err and "Traceback" not in err
    code, _, err = run("policy", "propose", "--debtor-iban", "BE65001983341924", "--user", "ada")
    assert code == 2 and "IBAN 'BE65001983341924' is invalid" in err
    code, out, _ = run("policy", "approve", "2", "--user", "alex", "--json")
    data = json.loads(out)
    assert code == 0 and (data["ref"], data["status"], data["dual_approval_cents"], data["breach_ppm"]) == (
        "P2", "in_force", 50_000_00, 950_000)
    code, out, _ = run("policy", "list", "--user", "rita")
    assert code == 0 and [line.split()[:2] for line in out.splitlines()] == [["P1", "replaced"], ["P2", "in_force"]]
    run_ref = propose_run(admins, make_payouts({"C001": 10_00}), DAY, "otto").run.ref
    code, out, _ = run("payouts", "show", run_ref, "--user", "rita")
    assert code == 0 and ("payment policy P2: dual approval from EUR 50,000.00, breach 0.95, warning 0.8; paid "
                          "from Atlas Settlement Demo GmbH DE89370400440532013000 COBADEFFXXX") in out
    with admins.transaction() as s:
        assert [p.status for p in s.execute(select(PaymentPolicy).order_by(PaymentPolicy.id)).scalars()] == [
            "replaced", "in_force"]
