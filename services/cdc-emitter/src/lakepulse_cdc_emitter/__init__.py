"""LakePulse cdc-emitter service."""
