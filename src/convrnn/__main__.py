"""``python -m convrnn``: the same as the ``convrnn`` command."""

import sys

from convrnn.cli import main

sys.exit(main())
