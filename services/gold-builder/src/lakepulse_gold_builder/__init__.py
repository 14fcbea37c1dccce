"""LakePulse gold-builder service."""
