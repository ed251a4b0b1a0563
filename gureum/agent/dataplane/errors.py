"""The error a dataplane step raises: its message is what the operator reads."""

from __future__ import annotations


class DataplaneError(RuntimeError):
    """What could not be built, in plain words, with what to do about it."""


def describe(error: BaseException) -> str:
    """Plain words for any failure, for HostReport.network_errors."""
    if isinstance(error, DataplaneError):
        return str(error)
    return f"{type(error).__name__}: {error}"
