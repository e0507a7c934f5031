"""``python -m analogsim.cli``: the same as the ``analogsim`` command."""

import sys

from .main import main

sys.exit(main())
