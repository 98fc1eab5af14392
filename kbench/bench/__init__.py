"""Measurement plumbing: run records (this issue), and the timing harness and profiler to come."""
