"""The emitter's exceptions: each one stops the process loudly (the slot is not advanced past it)."""

from __future__ import annotations

from lakepulse_common.errors import LakePulseError


class CdcEmitterError(LakePulseError):
    """Base class of every cdc-emitter failure."""


class PgOutputDecodeError(CdcEmitterError):
    """A pgoutput message could not be decoded; streaming stops before acknowledging it."""


class DeliveryError(CdcEmitterError):
    """Kafka refused an event after the producer's own retries; nothing past it is confirmed."""


class SnapshotInterrupted(CdcEmitterError):
    """Shutdown arrived mid-snapshot; the snapshot stays ``running`` and is redone on the next start."""
