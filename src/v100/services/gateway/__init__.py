"""gateway (:4000): the front door. Tenants, users, sessions and API keys; authentication of
every request; routing of every public prefix to its service with an internal token."""
