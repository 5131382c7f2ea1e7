import sys

from pvst.cli import main

sys.exit(main())
