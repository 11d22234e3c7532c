"""Transit adapters: Postgres, Kafka and HTTP clients; domain events to public contracts."""
