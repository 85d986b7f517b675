"""meeting_signaling (:3015): WebRTC signaling rooms over WebSocket (offer/answer, ICE relay).
Its features arrive with a later issue; today it runs, migrates and reports health."""
