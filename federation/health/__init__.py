"""Health probes, the hysteresis state machine and the sweep schedule."""
