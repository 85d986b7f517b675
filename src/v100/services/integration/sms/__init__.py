"""integration's SMS (``/v1/sms``): per-tenant sender numbers, messages handed to Twilio through
its official SDK by a durable outbox, signed status callbacks and STOP/START opt-outs."""
