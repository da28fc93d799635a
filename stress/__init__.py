"""Long-running proofs: callers against reloads, and resource use over many reloads (make stress)."""
