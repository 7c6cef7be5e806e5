"""`python -m atlas_xl` is `atlas-xl`."""

from atlas_xl.cli.app import entry

entry()
