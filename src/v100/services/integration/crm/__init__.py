"""integration's CRM part: OAuth connections to HubSpot and Salesforce, and the two-way sync of
contacts and meeting/video activities (docs/integration.md, "CRM"; ADR 0033)."""
