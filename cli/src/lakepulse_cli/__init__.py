"""The `lakepulse` command-line front door."""
