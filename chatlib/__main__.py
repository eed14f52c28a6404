import sys

from chatlib.cli import main

sys.exit(main())
