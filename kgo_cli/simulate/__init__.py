"""`kgo simulate` and `kgo demo`: a deterministic, seeded Khon Kaen that drives the platform
through its public APIs only (see README.md here)."""
