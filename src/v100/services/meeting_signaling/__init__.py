"""meeting_signaling (:3015): WebRTC signaling rooms over WebSocket (offer/answer and trickle ICE
relayed to a named peer, resume after a dropped socket, rooms across replicas on Redis)."""
