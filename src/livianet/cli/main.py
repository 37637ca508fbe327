"""The ``livianet`` command: one program, one subcommand per job.

This module runs a command line: logging, the subcommand's handler, and the mapping
of errors to one line and an exit code. The parser is :mod:`livianet.cli.parser`, the
handlers :mod:`livianet.cli.commands`. Heavy libraries (torch, scipy, nibabel) are
imported inside the subcommands so that ``livianet --help`` answers at once. Problems
caused by input end with one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from livianet.cli.parser import build_parser
from livianet.errors import LivianetError, os_error_message

logger = logging.getLogger("livianet")

EXIT_ERROR = 1

__all__ = ["EXIT_ERROR", "build_parser", "main"]


def _configure_logging(verbose: bool, quiet: bool) -> None:
    import os

    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    rank = (
        f"[rank {os.environ.get('RANK', '0')}] "
        if int(os.environ.get("WORLD_SIZE", "1")) > 1
        else ""
    )
    plain = "%(message)s" if level > logging.DEBUG else "%(levelname)s %(name)s: %(message)s"
    handler.setFormatter(logging.Formatter(rank + plain))
    root = logging.getLogger("livianet")
    root.handlers[:] = [handler]
    root.setLevel(level)


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        if threads < 1:
            raise LivianetError(f"--threads {threads}: expected a positive number")
        torch.set_num_threads(threads)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]  # for provenance
    if args.command is None:
        parser.print_help()
        return 0
    _configure_logging(args.verbose, args.quiet)
    from livianet.cli import commands

    handler = getattr(commands, f"run_{args.command.replace('-', '_')}")
    if args.command in ("train", "segment", "demo", "bids"):
        from livianet.runtime import keep_freed_memory

        keep_freed_memory()
    try:
        _set_threads(getattr(args, "threads", None))
        return int(handler(args) or 0)
    except LivianetError as exc:
        print(f"livianet: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print("livianet: error: out of memory; try a smaller --tile or batch", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"livianet: error: {os_error_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("livianet: interrupted", file=sys.stderr)
        return 130
