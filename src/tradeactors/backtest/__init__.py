"""Deterministic backtests of strategies on recorded captures (see `engine`)."""
