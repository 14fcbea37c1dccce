"""Shared LakePulse library: imported by every service and the CLI, never run on its own."""

__version__ = "0.1.0"
