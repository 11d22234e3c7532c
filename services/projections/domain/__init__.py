"""Projections domain: the read models' shapes and the folds that build them; no I/O."""
