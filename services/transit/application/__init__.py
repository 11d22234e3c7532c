"""Transit application: commands that load aggregates, decide, and save atomically."""
