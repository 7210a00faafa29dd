"""Order lifecycle, idempotency, domain events and signed outbound webhooks."""
