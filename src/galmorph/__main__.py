"""``python -m galmorph`` runs the command line."""

import sys

from galmorph.cli import main

sys.exit(main())
