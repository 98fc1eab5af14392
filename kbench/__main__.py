"""``python -m kbench``: the same as the ``kbench`` console script."""

import sys

from kbench.cli import main

sys.exit(main())
