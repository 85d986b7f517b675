// The mesh media layer: one RTCPeerConnection per peer of the room, negotiated with MDN's
// "perfect negotiation" (the signaling service says which side of each pair is polite),
// trickle ICE, and an ICE restart when a connection fails or stays disconnected.
//
// The interface every media layer of the page offers (sfu.js too):
//   new MeshMedia({signaling, localStream, onTrack(peerId, stream), onPeerGone(peerId)})
//   await start(joinAnswer)          // signaling's `joined` answer
//   await replaceVideoTrack(track)   // camera <-> screen, or null
//   close()
//   await inboundStats()             // [{peerId, kind, bytesReceived, framesDecoded, totalAudioEnergy}]

const DISCONNECTED_RESTART_MS = 4000;

export class MeshMedia {
  constructor({ signaling, localStream, onTrack, onPeerGone, onConnectionState }) {
    this.signaling = signaling;
    this.localStream = localStream || new MediaStream();
    this.onTrack = onTrack;
    this.onPeerGone = onPeerGone;
    this.onConnectionState = onConnectionState || (() => {});
    this.peers = new Map(); // session id -> peer record
    this.iceServers = [];
    this.videoTrack = this.localStream.getVideoTracks()[0] || null;
    this._onMessage = (event) => this._handle(event.detail).catch((error) => console.warn("mesh:", error));
    this._onRejoined = (event) => this._rejoined(event.detail);
  }

  async start(joinAnswer) {
    this.iceServers = joinAnswer.ice_servers || [];
    this.signaling.addEventListener("message", this._onMessage);
    this.signaling.addEventListener("rejoined", this._onRejoined);
    // The newcomer makes the first offer to each peer already there.
    for (const peer of joinAnswer.peers || []) this._peer(peer.session_id, peer.polite, true);
  }

  async replaceVideoTrack(track) {
    this.videoTrack = track;
    await Promise.all(
      [...this.peers.values()].map(async (peer) => {
        const transceiver = peer.video;
        if (transceiver) await transceiver.sender.replaceTrack(track);
      }),
    );
  }

  close() {
    this.signaling.removeEventListener("message", this._onMessage);
    this.signaling.removeEventListener("rejoined", this._onRejoined);
    for (const id of [...this.peers.keys()]) this._drop(id, false);
  }

  async inboundStats() {
    const out = [];
    for (const [peerId, peer] of this.peers) {
      const report = await peer.pc.getStats();
      report.forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        out.push({
          peerId,
          kind: s.kind,
          bytesReceived: s.bytesReceived || 0,
          framesDecoded: s.framesDecoded || 0,
          totalAudioEnergy: s.totalAudioEnergy || 0,
        });
      });
    }
    return out;
  }

  connectionStates() {
    return [...this.peers.values()].map((peer) => peer.pc.connectionState);
  }

  // -- one peer connection per peer -----------------------------------------------------

  _peer(id, polite, initiator) {
    let peer = this.peers.get(id);
    if (peer) return peer;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    peer = {
      id, pc, polite, initiator,
      stream: new MediaStream(),
      makingOffer: false, ignoreOffer: false, settingAnswer: false,
      audio: null, video: null, disconnectedTimer: null, pending: [],
    };
    this.peers.set(id, peer);
    if (initiator) {
      // Both kinds always negotiated (sendrecv, a null track until there is one), so a later
      // camera, screen or microphone is a replaceTrack, never a renegotiation.
      peer.audio = pc.addTransceiver(this._track("audio") || "audio", {
        direction: "sendrecv", streams: [this.localStream],
      });
      peer.video = pc.addTransceiver(this.videoTrack || "video", {
        direction: "sendrecv", streams: [this.localStream],
      });
    }
    pc.onnegotiationneeded = async () => {
      // The side that did not initiate waits for the first offer, then may renegotiate.
      if (!peer.initiator && !pc.remoteDescription) return;
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        this.signaling.send({ type: "offer", to: id, sdp: pc.localDescription.sdp });
      } catch (error) {
        console.warn("mesh: offer failed", error);
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.signaling.send({ type: "candidate", to: id, candidate: candidate.toJSON() });
      else this.signaling.send({ type: "end-of-candidates", to: id });
    };
    pc.ontrack = ({ track }) => {
      peer.stream.addTrack(track);
      track.onunmute = () => this.onTrack(id, peer.stream);
      this.onTrack(id, peer.stream);
    };
    pc.oniceconnectionstatechange = () => this._iceState(peer);
    pc.onconnectionstatechange = () => this.onConnectionState(id, pc.connectionState);
    return peer;
  }

  _track(kind) {
    return this.localStream.getTracks().find((t) => t.kind === kind) || null;
  }

  _iceState(peer) {
    const state = peer.pc.iceConnectionState;
    clearTimeout(peer.disconnectedTimer);
    if (state === "failed") {
      peer.pc.restartIce();
    } else if (state === "disconnected") {
      peer.disconnectedTimer = setTimeout(() => {
        if (peer.pc.iceConnectionState === "disconnected") peer.pc.restartIce();
      }, DISCONNECTED_RESTART_MS);
    }
  }

  // The non-initiating side attaches its tracks to the transceivers the first offer made.
  async _attach(peer) {
    if (peer.audio && peer.video) return;
    for (const transceiver of peer.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (kind === "audio" && !peer.audio) peer.audio = transceiver;
      else if (kind === "video" && !peer.video) peer.video = transceiver;
      else continue;
      transceiver.direction = "sendrecv";
      transceiver.sender.setStreams(this.localStream);
      await transceiver.sender.replaceTrack(kind === "audio" ? this._track("audio") : this.videoTrack);
    }
  }

  _drop(id, tell = true) {
    const peer = this.peers.get(id);
    if (!peer) return;
    clearTimeout(peer.disconnectedTimer);
    this.peers.delete(id);
    peer.pc.close();
    if (tell) this.onPeerGone(id);
  }

  _rejoined(answer) {
    // Our old session ended: every peer now knows us under a new session id.
    for (const id of [...this.peers.keys()]) this._drop(id);
    for (const peer of answer.peers || []) this._peer(peer.session_id, peer.polite, true);
  }

  async _handle(message) {
    switch (message.type) {
      case "peer.joined":
        this._peer(message.peer.session_id, message.peer.polite, false);
        return;
      case "peer.left":
        this._drop(message.session_id);
        return;
      case "offer":
      case "answer":
        await this._description(message);
        return;
      case "candidate":
        await this._candidate(message);
        return;
      case "ice-restart": {
        const peer = this.peers.get(message.from);
        if (peer) peer.pc.restartIce();
        return;
      }
      default:
    }
  }

  async _description({ type, from, sdp }) {
    // An offer from someone we were not told of yet (a message overtook peer.joined): we
    // joined first, so we are the impolite side.
    const peer = this.peers.get(from) || (type === "offer" ? this._peer(from, false, false) : null);
    if (!peer) return;
    const pc = peer.pc;
    // MDN's perfect negotiation.
    const readyForOffer =
      !peer.makingOffer && (pc.signalingState === "stable" || peer.settingAnswer);
    const collision = type === "offer" && !readyForOffer;
    peer.ignoreOffer = !peer.polite && collision;
    if (peer.ignoreOffer) return;
    peer.settingAnswer = type === "answer";
    await pc.setRemoteDescription({ type, sdp });
    peer.settingAnswer = false;
    for (const candidate of peer.pending.splice(0)) await this._addCandidate(peer, candidate);
    if (type === "offer") {
      await this._attach(peer);
      await pc.setLocalDescription();
      this.signaling.send({ type: "answer", to: from, sdp: pc.localDescription.sdp });
    }
  }

  async _candidate({ from, candidate }) {
    const peer = this.peers.get(from);
    if (!peer) return;
    if (!peer.pc.remoteDescription) {
      peer.pending.push(candidate);
      return;
    }
    await this._addCandidate(peer, candidate);
  }

  async _addCandidate(peer, candidate) {
    try {
      await peer.pc.addIceCandidate(candidate);
    } catch (error) {
      if (!peer.ignoreOffer) console.warn("mesh: candidate refused", error);
    }
  }
}
