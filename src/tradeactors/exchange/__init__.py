"""The simulated exchange. So far: the matching engine (pure, in-process)."""
