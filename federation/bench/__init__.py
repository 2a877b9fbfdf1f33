"""Benchmarks reachable as `fedctl bench ...`; they print numbers and assert nothing."""
