"""A training loop whose step function and parameters are edited while it runs."""
