"""Projections application layer: handlers applying each consumed event to the read models."""
