"""meeting (:3005): meetings, participants, breakout and waiting rooms, recording lifecycle.
Its features arrive with a later issue; today it runs, migrates and reports health."""
