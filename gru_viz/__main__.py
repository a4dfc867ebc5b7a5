"""Entry point for `python -m gru_viz`."""

import sys

from gru_viz.cli import main

sys.exit(main())
