"""The gold builder's own errors; Spark and Delta exceptions are wrapped where they are raised."""

from lakepulse_common.errors import LakePulseError


class GoldBuildError(LakePulseError):
    """A build could not produce a consistent gold state; nothing after the failed commit was written."""


class SilverNotReadyError(GoldBuildError):
    """A silver table the gold model needs does not exist (yet) at the lake root."""


class UnsupportedCommandError(GoldBuildError):
    """A control-plane command this service cannot run (unknown action or invalid parameters)."""
