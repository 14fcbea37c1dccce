"""Errors the OLTP source raises on purpose; all are :class:`LakePulseError`."""

from __future__ import annotations

from lakepulse_common.errors import LakePulseError


class OltpError(LakePulseError):
    """Base class of the OLTP source's errors."""


class DatabaseNotEmptyError(OltpError):
    """``seed`` found rows already in the source tables and was not asked to replace them."""


class SchemaNotMigratedError(OltpError):
    """The source schema is missing or not at the head revision; run ``lakepulse migrate`` first."""


class InvalidWorkloadError(OltpError, ValueError):
    """A simulator or generator argument is out of range (the CLI turns it into exit code 2)."""
