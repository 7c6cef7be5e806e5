"""P3 SEPA: `build_pain001` for 10,000 payouts (including its own XSD validation) vs lxml parsing and
validating the same file against the same XSD.

The baseline is the least any writer must spend to hand over a checked file: parse the bytes and run the
pain.001.001.09 schema over them (lxml, the same XSD the writer uses). The writer additionally checks
every IBAN/BIC, transliterates names and remittance to the EPC set, builds the tree and serialises it.

    python benchmarks/p3_sepa.py            # 10,000 payouts
    python benchmarks/p3_sepa.py --quick    # 500 payouts
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_of, machine, print_json, verdict  # noqa: E402

TARGET = 3.0  # the writer <= 3x lxml parse + validate


def transfers(count: int) -> list[object]:
    """Payouts to the generator's clients (real-format IBANs with their BICs), amounts from 1.00 up."""
    from atlas_xl.examples.portfolio import generate_portfolio
    from atlas_xl.outputs.sepa.pain001 import CreditTransfer

    clients = generate_portfolio(clients=count, days=1)["clients"]  # one payout per client, as in a run
    valid = clients[~clients["client_id"].isin(["C00004"])]  # the documented invalid-IBAN case
    rows = valid.to_dict("records")
    out = []
    for i in range(count):
        row = rows[i % len(rows)]
        out.append(CreditTransfer(end_to_end_id=f"RUN20261123-{i:06d}", client_id=row["client_id"],
                                  amount_cents=100 + (i * 7919) % 5_000_000, creditor_name=row["name"],
                                  creditor_iban=row["iban"], creditor_bic=row["bic"] or None,
                                  remittance=f"Atlas settlement payout 2026-11-23 {row['client_id']}"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    count = 500 if args.quick else 10_000

    from lxml import etree

    from atlas_xl.outputs.sepa.pain001 import Debtor, PainVersion, _schema, build_pain001

    print("machine:", machine())
    payouts = transfers(count)
    debtor = Debtor("Atlas Settlement Demo GmbH", "DE89370400440532013000", "COBADEFFXXX")

    def build() -> bytes:
        return build_pain001(payouts, debtor, dt.date(2026, 11, 24), "MSG20261123", "PMT20261123",
                             dt.datetime(2026, 11, 23, 18, 0), PainVersion.V09)

    repeat = 3
    writer_s, xml = best_of(repeat, build)
    schema = _schema(PainVersion.V09)
    schema.assertValid(etree.fromstring(xml))  # warm: the XSD compiles once per process in both cases

    def parse_and_validate() -> None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        schema.assertValid(etree.fromstring(xml, parser))

    lxml_s, _ = best_of(repeat, parse_and_validate)
    ratio = writer_s / lxml_s
    print(f"\n== P3 SEPA pain.001.001.09: {count:,} payouts, {len(xml) / 1024**2:.1f} MiB")
    print(f"  build_pain001 (checks, build, serialise, XSD-validate) {writer_s:8.3f} s")
    print(f"  lxml parse + XSD validate of the same file             {lxml_s:8.3f} s")
    print(f"  ratio {ratio:5.2f}x  {verdict(ratio, TARGET)}")
    print_json("P3", {"payouts": count, "bytes": len(xml), "writer_s": writer_s, "lxml_s": lxml_s,
                      "ratio": ratio})
    return 0


if __name__ == "__main__":
    sys.exit(main())
