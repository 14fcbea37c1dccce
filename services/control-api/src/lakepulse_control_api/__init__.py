"""LakePulse control-api service."""
