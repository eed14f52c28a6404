import sys

from chatlib.tools.cli import main

sys.exit(main())
