"""`python -m mllab ...` is `mllab ...`."""

import sys

from mllab.cli import main

if __name__ == "__main__":
    sys.exit(main())
