"""MQTT for integrators: topics, the broker link, and the outbox that delivers every event."""
