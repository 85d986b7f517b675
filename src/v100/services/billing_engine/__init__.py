"""billing_engine (:8086): plans, meters and usage events, rate cards, subscriptions and
invoices. Money is integer minor units; quantities and unit prices are exact decimals."""
