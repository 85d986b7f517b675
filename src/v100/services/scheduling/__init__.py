"""scheduling (:3006): calendar connections, events, availability and booking links.
Its features arrive with a later issue; today it runs, migrates and reports health."""
