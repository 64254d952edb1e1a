"""``python -m q3embed``: the same CLI as the ``q3embed`` script (useful where scripts are not on PATH)."""

import sys

from .cli import main

sys.exit(main())
