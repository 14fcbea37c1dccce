"""The embedded local stack (no Docker): Postgres and Kafka, later the five services, under supervisord."""

from lakepulse_cli.stack.manager import ComponentStatus, Stack, StackStatus

__all__ = ["ComponentStatus", "Stack", "StackStatus"]
