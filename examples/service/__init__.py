"""A small HTTP service whose handlers are edited while it runs; see README.md."""
