"""`atlas-xl dashboard`: write the self-contained HTML dashboard alone (filled in by the dashboard work)."""

from __future__ import annotations

from atlas_xl.cli import app  # noqa: F401
