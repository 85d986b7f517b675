"""integration (:3009): webhook endpoints and their signed, retried, durable deliveries; the event
stream; CRM connections and SMS (not built yet). docs/integration.md says what works today."""
