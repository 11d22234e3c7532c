"""Transit domain: aggregates, their events and rules, domain errors. No I/O."""
