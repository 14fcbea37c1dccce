"""Sub-command groups of the `lakepulse` CLI; each module exposes ``register(app)``."""
