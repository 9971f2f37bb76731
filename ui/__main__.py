"""`python -m ui [--host H] [--port P]`."""

import sys

from ui.app import main

sys.exit(main(sys.argv[1:]))
