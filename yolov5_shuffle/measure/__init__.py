"""Measuring what the project claims: latency (bench, micro-bench, profile), accuracy (learn), deployment."""
