"""``python -m livianet``: the same as the ``livianet`` command."""

import sys

from livianet.cli import main

if __name__ == "__main__":
    sys.exit(main())
