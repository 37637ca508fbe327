"""The ``livianet`` command: the parser, one handler per subcommand, the dry run.

Handlers import their stage when they run, so ``livianet --help`` needs no torch.
"""

from livianet.cli.main import main

__all__ = [
    "main",
]
