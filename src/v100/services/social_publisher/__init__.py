"""social_publisher (:3025): social accounts and their OAuth, publish jobs, scheduled content.
Its features arrive with a later issue; today it runs, migrates and reports health."""
