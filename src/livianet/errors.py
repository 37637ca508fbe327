"""Exceptions that the command line turns into one-line messages.

Every error a user can cause derives from :class:`LivianetError`; the CLI prints
its message on one line and exits non-zero. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class LivianetError(Exception):
    """Base class for problems caused by input (files, configs, options)."""


class ConfigError(LivianetError, ValueError):
    """A configuration file or option is missing, malformed or inconsistent."""


class DataError(LivianetError, ValueError):
    """An image, label map, ROI or weight file cannot be used as given."""


class CheckpointError(LivianetError, ValueError):
    """A checkpoint is missing, unreadable or does not fit the network."""


class TrainingError(LivianetError, RuntimeError):
    """Training cannot go on (non-finite loss, nothing to sample, ...)."""


def describe_exception(exc: BaseException) -> str:
    """``'TypeName: first line of the message'``: a library's error, on one line of ours."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def os_error_message(exc: OSError) -> str:
    """``'path: reason'`` of a failed file operation, as the user should read it.

    >>> os_error_message(FileNotFoundError(2, "No such file or directory", "a.nii"))
    'a.nii: No such file or directory'
    """
    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    return f"{where}{exc.strerror or exc}"
