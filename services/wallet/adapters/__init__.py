"""The wallet's adapters: the Postgres event store, the Kafka contracts, personal data sealing."""
