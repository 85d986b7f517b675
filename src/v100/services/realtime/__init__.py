"""realtime (:3014): live room state and presence, pushed over WebSocket.
Its features arrive with a later issue; today it runs, migrates and reports health."""
