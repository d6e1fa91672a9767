"""``python -m exconf`` runs the command line (the lab's auto-start uses it)."""

import sys

from .entry import main

sys.exit(main())
