"""LakePulse silver-processor service."""
