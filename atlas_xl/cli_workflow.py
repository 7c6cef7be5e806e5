"""CLI for the payout workflow: `atlas-xl users|payouts|audit ...` (filled in by the payout-workflow work)."""

from __future__ import annotations

import typer

users_app = typer.Typer(help="Users and roles of the store.", no_args_is_help=True)
payouts_app = typer.Typer(help="Payout runs: propose, approve, execute (SEPA file), settle.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
