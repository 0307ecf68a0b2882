"""``python -m streams.cli``: the same as the ``vigil`` console script."""

import sys

from streams.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
