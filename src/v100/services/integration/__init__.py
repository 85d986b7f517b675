"""integration (:3009): CRM connections, webhooks and their deliveries, the event stream, SMS.
Its features arrive with a later issue; today it runs, migrates and reports health."""
