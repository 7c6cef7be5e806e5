"""The bundled example data is package data (atlas_xl/example_data, what a wheel installs); the repository's
top-level example_data/ holds the same files, byte for byte."""

from __future__ import annotations

from pathlib import Path

from atlas_xl.inputs.example_data import example_data_dir
from atlas_xl.inputs.portfolio import load_portfolio

REPO = Path(__file__).resolve().parent.parent


def test_package_data_and_top_level_folder_hold_identical_files():
    package = sorted(p.name for p in (REPO / "atlas_xl" / "example_data").iterdir())
    top = sorted(p.name for p in (REPO / "example_data").iterdir())
    assert package == top == ["README.md", "bank_camt053.xml", "bank_camt054.xml", "bank_pain002.xml",
                              "chart_of_accounts.csv", "clients.csv", "loans.csv", "portfolio.xlsx",
                              "reserve_terms.csv", "settlements.csv"]
    for name in top:
        packaged = (REPO / "atlas_xl" / "example_data" / name).read_bytes()
        assert packaged == (REPO / "example_data" / name).read_bytes(), (
            f"{name} differs: copy example_data/ into atlas_xl/example_data/ after regenerating it")


def test_the_default_data_folder_is_the_package_data_and_loads():
    folder = example_data_dir()
    assert folder == REPO / "atlas_xl" / "example_data"
    portfolio = load_portfolio(folder)
    assert len(portfolio.clients) == 40 and len(portfolio.settlements) == 40 * 365  # + 1 USD row refused
    assert len(portfolio.refused) == 1
