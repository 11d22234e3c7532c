"""The projections service: read models of every topic, never written back anywhere."""
