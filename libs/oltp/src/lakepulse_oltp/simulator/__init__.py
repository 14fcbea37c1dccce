"""Workload simulator: real OLTP transactions against the source at a chosen pattern and rate."""

from lakepulse_oltp.simulator.patterns import Pattern
from lakepulse_oltp.simulator.runner import SimulationError, SimulationResult, simulate

__all__ = ["Pattern", "SimulationError", "SimulationResult", "simulate"]
