"""avatar (:3004): the avatar catalog, voices and avatar sessions.
Its features arrive with a later issue; today it runs, migrates and reports health."""
