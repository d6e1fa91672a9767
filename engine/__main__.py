"""``python -m exconf`` runs the command line (the lab's auto-start uses it)."""

import sys

from .cli import main

sys.exit(main())
