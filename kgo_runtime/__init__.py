"""kgo_runtime: the plumbing every KGO service shares.

Settings, the CloudEvents envelope, the relay from an event store to Kafka, the idempotent
consumer, dead-lettering, metrics and logs. No business rules live here.
"""
