"""publishing_worker (:3026, health only): the jobs that publish scheduled content when due.
No public routes (docs/adr/0002); its jobs arrive with a later issue; today it runs and migrates."""
