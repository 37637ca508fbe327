"""``python -m livianet``: the same as the ``livianet`` command."""

import sys

from livianet.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
