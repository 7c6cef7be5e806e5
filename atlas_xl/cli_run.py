"""`atlas-xl run`, `atlas-xl example-data`, `atlas-xl dashboard`: the headless daily job."""

from __future__ import annotations

from atlas_xl.cli import app  # noqa: F401
