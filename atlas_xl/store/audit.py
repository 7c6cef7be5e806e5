"""The append-only, hash-chained audit trail.

Each entry's hash is sha256(previous hash + canonical JSON of the entry), the canonical JSON being
sorted keys, no spaces, UTF-8. The single `audit_head` row holds the last sequence number and hash, so
removing entries at the end is detected too. `verify` walks the chain in sequence order and names the
first entry that does not fit: an edited entry fails its own hash, a deleted, inserted or reordered one
breaks the link (prev_hash / sequence) of the entry where the chain is cut.

Anyone who can write the database can also rewrite the whole chain and recompute every hash, which `verify`
alone cannot see. A checkpoint (`checkpoint`, `atlas-xl audit export --out FILE`) is kept outside the database:
the head's sequence number and hash, the hash of every entry up to it, the time, and a SHA-256 of that content.
`verify_against` compares the chain with it and names the first entry that differs from what was exported.

In a demo store every entry's actor carries the mark " (demo)".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from atlas_xl.store.database import is_demo, write_lock
from atlas_xl.store.models import GENESIS_HASH, AuditEntry, AuditHead

DEMO_MARK = " (demo)"
CHECKPOINT_FORMAT = "atlas-audit-checkpoint/1"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def entry_payload(entry: AuditEntry) -> dict[str, Any]:
    """What the hash covers: every column except the hashes themselves."""
    return {
        "seq": int(entry.seq), "at": entry.at, "actor": entry.actor, "action": entry.action,
        "entity": entry.entity, "entity_id": entry.entity_id,
        "run_id": None if entry.run_id is None else int(entry.run_id), "client_id": entry.client_id,
        "before": json.loads(entry.before_json), "after": json.loads(entry.after_json),
    }


def entry_hash(prev_hash: str, payload: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()


def append(session: Session, *, actor: str, action: str, entity: str, entity_id: str,
           before: Any = None, after: Any = None, run_id: int | None = None,
           client_id: str | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits or rolls back with the change itself)."""
    write_lock(session)
    actor = actor[:64] + (DEMO_MARK if is_demo(session) else "")
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    entry = AuditEntry(
        seq=int(head.seq) + 1, at=now_text(), actor=actor, action=action[:40], entity=entity[:20],
        entity_id=str(entity_id)[:64], run_id=run_id, client_id=client_id,
        before_json=canonical_json(_jsonable(before)), after_json=canonical_json(_jsonable(after)),
        prev_hash=head.hash, hash="",
    )
    entry.hash = entry_hash(head.hash, entry_payload(entry))
    session.add(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.flush()
    return entry


def _jsonable(value: Any) -> Any:
    """Dates and datetimes as ISO text, tuples as lists; anything else must already be JSON."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return value.item()
    return value


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_bad_seq: int | None
    problem: str

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "entries": self.entries, "first_bad_seq": self.first_bad_seq,
                "problem": self.problem}


def verify(session: Session) -> VerifyResult:
    """Walk the chain; report the first entry that is not what the chain says it should be."""
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    prev_hash, prev_seq = GENESIS_HASH, 0
    for entry in rows:
        seq = int(entry.seq)
        if seq != prev_seq + 1:
            return VerifyResult(False, len(rows), seq,
                                f"entry {seq} follows entry {prev_seq}: entries deleted or renumbered")
        if entry.prev_hash != prev_hash:
            return VerifyResult(False, len(rows), seq,
                                f"entry {seq} does not link to entry {prev_seq}: "
                                "an entry was deleted, inserted or reordered here")
        try:
            payload = entry_payload(entry)
        except (ValueError, TypeError):
            return VerifyResult(False, len(rows), seq, f"entry {seq} holds unreadable before/after JSON")
        if entry_hash(prev_hash, payload) != entry.hash:
            return VerifyResult(False, len(rows), seq, f"entry {seq} was edited: its hash does not match")
        prev_hash, prev_seq = entry.hash, seq
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None or int(head.seq) != prev_seq or head.hash != prev_hash:
        head_seq = None if head is None else int(head.seq)
        # the first entry the head does not vouch for, or the first one missing after the last entry
        bad = prev_seq + 1 if head_seq is None or head_seq > prev_seq else head_seq + 1
        return VerifyResult(False, len(rows), bad,
                            f"the trail ends at entry {prev_seq} but its head records entry {head_seq}: "
                            "entries were removed from or added to the end")
    return VerifyResult(True, len(rows), None, f"{len(rows)} entries, chain intact")


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    payload = entry_payload(entry)
    payload["hash"] = entry.hash
    return payload


def head(session: Session) -> tuple[int, str]:
    """The last entry's sequence number and hash (0 and the genesis hash for an empty trail)."""
    row = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    return (0, GENESIS_HASH) if row is None else (int(row.seq), str(row.hash))


def checkpoint(session: Session) -> dict[str, Any]:
    """The trail as it is now, to keep outside the database (module docstring). The content's SHA-256 shows
    a damaged or hand-edited file; it is no signature: keep the file where the database's writers cannot."""
    seq, last = head(session)
    hashes = list(session.execute(select(AuditEntry.hash).where(AuditEntry.seq <= seq)
                                  .order_by(AuditEntry.seq)).scalars())
    content = {"format": CHECKPOINT_FORMAT, "head_seq": seq, "head_hash": last, "at": now_text(),
               "hashes": hashes}
    return {**content, "sha256": hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()}


def checkpoint_problem(document: Any) -> str | None:
    """Why `document` is not an intact checkpoint, or None."""
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        return f"not an Atlas audit checkpoint (expected \"format\": \"{CHECKPOINT_FORMAT}\")"
    content = {k: v for k, v in document.items() if k != "sha256"}
    if hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest() != document.get("sha256"):
        return "the checkpoint's content does not match its sha256: the file was damaged or edited"
    seq, hashes = document.get("head_seq"), document.get("hashes")
    if not isinstance(seq, int) or not isinstance(hashes, list) or len(hashes) != seq or \
            (seq and hashes[-1] != document.get("head_hash")):
        return "the checkpoint's head does not match its list of hashes"
    return None


def verify_against(session: Session, document: Mapping[str, Any]) -> VerifyResult:
    """`verify`, then compare the chain with a checkpoint (checked with checkpoint_problem first): the first
    entry whose hash differs from the exported one is named, so a chain rewritten with recomputed hashes
    after the checkpoint is found."""
    result = verify(session)
    if not result.ok:
        return result
    exported: list[str] = list(document["hashes"])
    stored = list(session.execute(select(AuditEntry.hash).where(AuditEntry.seq <= len(exported))
                                  .order_by(AuditEntry.seq)).scalars())
    for seq, (was, now) in enumerate(zip(exported, stored, strict=False), start=1):
        if was != now:
            return VerifyResult(False, result.entries, seq,
                                f"entry {seq} differs from the checkpoint of {document['at']}: the chain was "
                                "rewritten after it (hashes recomputed)")
    if len(stored) < len(exported):
        return VerifyResult(False, result.entries, len(stored) + 1,
                            f"the checkpoint of {document['at']} vouches for {len(exported)} entries but the trail "
                            f"has {len(stored)}: entries were removed")
    return VerifyResult(True, result.entries, None,
                        f"{result.entries} entries, chain intact and matching the checkpoint of {document['at']} "
                        f"(entry {len(exported)}, {document['head_hash'][:16]}...)")
