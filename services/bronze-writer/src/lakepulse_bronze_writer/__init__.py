"""LakePulse bronze-writer service."""
