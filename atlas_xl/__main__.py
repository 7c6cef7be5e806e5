"""`python -m atlas_xl` is `atlas-xl`."""

import sys

from atlas_xl.cli import main

sys.exit(main())
