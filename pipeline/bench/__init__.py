"""Benchmarks: commands that print figures."""
