"""realtime (:3014): live room state and presence of meetings, pushed over WebSocket
(docs/realtime.md)."""
