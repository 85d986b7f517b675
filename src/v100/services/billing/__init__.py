"""billing (:8085): credit accounts, the double-entry ledger, holds and Stripe checkout.
Its features arrive with issue 4; today it runs, migrates and answers health checks."""
