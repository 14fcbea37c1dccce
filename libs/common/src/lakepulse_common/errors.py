"""LakePulse's own exception hierarchy; vendor errors are wrapped at the edge where they are raised."""


class LakePulseError(Exception):
    """Base class of every error LakePulse raises on purpose."""


class ConfigurationError(LakePulseError):
    """Settings are missing, contradictory or point at something that does not exist."""


class StackError(LakePulseError):
    """A local-stack component could not be started, stopped or reached."""


class KafkaAdminError(LakePulseError):
    """A topic could not be created or described."""


class ControlEventError(LakePulseError):
    """A control-topic message could not be decoded into a known, supported event."""
