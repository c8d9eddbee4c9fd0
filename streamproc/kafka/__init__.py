"""Everything that talks to Kafka: the Faust transport, plain clients, topic admin, the embedded broker."""
