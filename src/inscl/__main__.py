import sys

from inscl.cli import main

sys.exit(main())
