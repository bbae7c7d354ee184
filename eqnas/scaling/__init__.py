"""Scaling laws: fitting L(N, D), compute-optimal sizes, and their plots."""
