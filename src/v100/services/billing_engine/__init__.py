"""billing_engine (:8086): plans, subscriptions, meters, rate cards, revenue shares and invoices.
Its features arrive with issue 4 (Billing); today it runs, migrates and reports health."""
