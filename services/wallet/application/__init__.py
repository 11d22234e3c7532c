"""The wallet's application layer: commands, and the ledger that decides them in batches."""
