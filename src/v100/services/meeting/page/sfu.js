// The SFU media layer (ADR 0058, docs/sfu.md): the room's media goes through Janus's VideoRoom,
// which the browser never reaches: signaling relays our `sfu.*` messages to it.
//
// Two RTCPeerConnections: the publisher (sendonly: our audio and video, offered by us with
// `sfu.publish`, answered `sfu.answer`) and the subscriber (recvonly: every other feed of the
// room in one connection; Janus offers `sfu.offer`, we answer `sfu.start`, and Janus offers
// again whenever a feed comes or goes). Trickle both ways (`sfu.candidate`, by target).
//
// Same interface as MeshMedia (mesh.js): constructor({signaling, localStream, onTrack(peerId,
// stream), onPeerGone(peerId)}), start(joinAnswer), replaceVideoTrack(track), close(),
// inboundStats(). Peers are named by their signaling session id, as in the mesh.
//
// A live switch from the mesh (the `media` message): `previous` (the MeshMedia) keeps carrying
// the room until the SFU's media flows from every feed we know of (or SWITCH_MAX_MS passed),
// then its peer connections are closed: no gap without picture or sound.
//
// A signaling resume: the server drops a socket's Janus handles when the socket ends (ADR 0058:
// the handles live with the socket, and a resume may land on another replica), and the room is
// told our feed left. So after `resumed` (or `rejoined`) both connections are made anew: we
// publish again (a new feed, announced to the room) and subscribe again to the feeds then
// announced. What the server still replays from before the resume (an answer or offer of the
// old handles) is skipped: we wait for the pong of a ping sent after the resume, which the
// server queues behind the replay. An ICE failure of the publisher restarts ICE (a new offer,
// `iceRestart`, configured on the same feed); one of the subscriber asks `sfu.restart` (Janus
// offers again with new ICE credentials, answered as any of its offers).

const SWITCH_MAX_MS = 20000;
const FLOW_POLL_MS = 500;
const DISCONNECTED_RESTART_MS = 4000;

export class SfuMedia {
  constructor({ signaling, localStream, onTrack, onPeerGone, onConnectionState, previous }) {
    this.signaling = signaling;
    this.localStream = localStream || new MediaStream();
    this.onTrack = onTrack;
    this.onPeerGone = onPeerGone;
    this.onConnectionState = onConnectionState || (() => {});
    this.previous = previous || null; // the mesh we take over from, closed once media flows
    this.videoTrack = this.localStream.getVideoTracks()[0] || null;
    this.iceServers = [];
    this.closed = false;
    this.generation = 0; // bumped at each resume: late work of an older one is dropped
    this.fence = null; // the ping id whose pong ends the replay of a resume
    this.feed = null; // our own feed id
    this.feeds = new Map(); // feed id -> {session_id, participant_id, name}
    this.wanted = new Set(); // feeds we want to receive
    this.subscribed = new Set(); // feeds the subscriber connection was asked for
    this.mids = new Map(); // subscriber mid -> {feed, session_id, type}
    this.streams = new Map(); // session id -> MediaStream shown for it
    this.pub = null;
    this.sub = null;
    this._queue = Promise.resolve(); // SDP work, one step at a time
    this._subscribing = false;
    this._onMessage = (event) => this._handle(event.detail);
    this._onResumed = () => this._resume();
  }

  get mode() {
    return "sfu";
  }

  async start(joinAnswer) {
    this.iceServers = joinAnswer.ice_servers || this.iceServers;
    this.signaling.addEventListener("message", this._onMessage);
    this.signaling.addEventListener("resumed", this._onResumed);
    this.signaling.addEventListener("rejoined", this._onResumed);
    this._connect();
    if (this.previous) {
      // A peer's tile shows the SFU's stream as soon as there is one, not the mesh's.
      const show = this.previous.onTrack;
      this.previous.onTrack = (peerId, stream) => {
        if (!this.streams.has(peerId)) show(peerId, stream);
      };
      this._retirePrevious();
    }
  }

  async replaceVideoTrack(track) {
    this.videoTrack = track;
    if (this.pub && this.pub.video) await this.pub.video.sender.replaceTrack(track);
    if (this.previous) await this.previous.replaceVideoTrack(track);
  }

  close() {
    this.closed = true;
    this.signaling.removeEventListener("message", this._onMessage);
    this.signaling.removeEventListener("resumed", this._onResumed);
    this.signaling.removeEventListener("rejoined", this._onResumed);
    if (this.previous) this.previous.close();
    this.previous = null;
    this._teardown();
  }

  async inboundStats() {
    const out = [];
    if (this.sub) {
      const byTrack = new Map(); // track id -> session id
      for (const transceiver of this.sub.pc.getTransceivers()) {
        const stream = this.mids.get(transceiver.mid);
        if (stream) byTrack.set(transceiver.receiver.track.id, stream.session_id);
      }
      const report = await this.sub.pc.getStats();
      report.forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        const known = this.mids.get(s.mid);
        const peerId = known ? known.session_id : byTrack.get(s.trackIdentifier);
        if (!peerId) return;
        out.push({
          peerId,
          kind: s.kind,
          bytesReceived: s.bytesReceived || 0,
          framesDecoded: s.framesDecoded || 0,
          totalAudioEnergy: s.totalAudioEnergy || 0,
        });
      });
    }
    // While the mesh still carries the room, its peers count too (not those the SFU carries).
    if (this.previous) {
      const mine = new Set(out.map((s) => s.peerId));
      for (const s of await this.previous.inboundStats()) if (!mine.has(s.peerId)) out.push(s);
    }
    return out;
  }

  connectionStates() {
    return [this.pub, this.sub].filter(Boolean).map((side) => side.pc.connectionState);
  }

  // -- the two peer connections --------------------------------------------------------------

  _connect() {
    this._send({ type: "sfu.join" }); // the room's feeds, and ours once we publish
    this._publish();
  }

  _teardown() {
    for (const side of [this.pub, this.sub]) {
      if (!side) continue;
      clearTimeout(side.disconnectedTimer);
      side.pc.close();
    }
    this.pub = this.sub = null;
    // New connections, new tracks: each peer's tile gets a new stream (an element keeps playing
    // the first audio track of its stream, an ended one otherwise).
    this.streams = new Map();
    this.subscribed.clear();
    this.mids.clear();
    this._subscribing = false;
  }

  _side(target) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const side = { target, pc, pending: [], disconnectedTimer: null, generation: this.generation };
    pc.onicecandidate = ({ candidate }) => {
      if (side.generation !== this.generation || this.closed) return;
      const init = candidate ? candidate.toJSON() : { candidate: "" };
      // An empty candidate string ends a generation: one end of candidates is enough.
      if (candidate && !candidate.candidate) return;
      this._send({ type: "sfu.candidate", target, candidate: init });
    };
    pc.oniceconnectionstatechange = () => this._iceState(side);
    pc.onconnectionstatechange = () => this.onConnectionState(target, pc.connectionState);
    return side;
  }

  _publish() {
    const side = this._side("publisher");
    this.pub = side;
    const audio = this.localStream.getAudioTracks()[0] || "audio";
    side.audio = side.pc.addTransceiver(audio, { direction: "sendonly", streams: [this.localStream] });
    side.video = side.pc.addTransceiver(this.videoTrack || "video", {
      direction: "sendonly", streams: [this.localStream],
    });
    this._offer(side, false);
  }

  _offer(side, iceRestart) {
    this._step(side.generation, async () => {
      if (this.pub !== side) return;
      const offer = await side.pc.createOffer({ iceRestart });
      await side.pc.setLocalDescription(offer);
      side.awaitingAnswer = true;
      this._send({ type: "sfu.publish", sdp: side.pc.localDescription.sdp });
    });
  }

  // Keeps the subscriber asking for exactly the feeds we want, one request at a time (each one
  // ends with Janus's offer answered).
  _syncSubscription() {
    if (this._subscribing || this.fence || this.closed) return;
    const add = [...this.wanted].filter((f) => !this.subscribed.has(f));
    if (add.length === 0) return;
    if (!this.sub) this.sub = this._side("subscriber");
    this._subscribing = true;
    for (const feed of add) this.subscribed.add(feed);
    this._send({ type: "sfu.subscribe", feeds: add });
  }

  _iceState(side) {
    const pc = side.pc;
    const state = pc.iceConnectionState;
    clearTimeout(side.disconnectedTimer);
    const restart = () => {
      if (side.generation !== this.generation || this.closed) return;
      if (side === this.pub) this._offer(side, true);
      else this._send({ type: "sfu.restart" }); // Janus offers again with new ICE credentials
    };
    if (state === "failed") restart();
    else if (state === "disconnected") {
      side.disconnectedTimer = setTimeout(() => {
        if (pc.iceConnectionState === "disconnected") restart();
      }, DISCONNECTED_RESTART_MS);
    }
  }

  // -- messages ----------------------------------------------------------------------------------

  _send(message) {
    return this.signaling.send(message);
  }

  _step(generation, work) {
    this._queue = this._queue
      .then(() => (generation === this.generation && !this.closed ? work() : null))
      .catch((error) => console.warn("sfu:", error));
    return this._queue;
  }

  _handle(message) {
    if (this.closed) return;
    if (this.fence) {
      // The replay of a resume: what the old handles said is over.
      if (message.type === "pong" && message.id === this.fence) {
        this.fence = null;
        this._connect();
      }
      return;
    }
    const generation = this.generation;
    switch (message.type) {
      case "sfu.feeds":
        this._feedsChanged(message);
        return;
      case "sfu.answer":
        this._step(generation, async () => {
          const side = this.pub;
          if (!side || !side.awaitingAnswer) return;
          side.awaitingAnswer = false;
          await side.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
          await this._flush(side);
        });
        return;
      case "sfu.offer":
        this._step(generation, () => this._answerOffer(message));
        return;
      case "sfu.candidate":
        this._step(generation, () => this._candidate(message));
        return;
      case "peer.left":
        this._peerGone(message.session_id);
        return;
      case "error":
        if (String(message.code || "").startsWith("sfu-") || message.code === "grant-required") {
          console.warn("sfu: refused", message.code, message.detail);
          if (this._subscribing) {
            // The request was not taken: ask again for what is still wanted, shortly.
            this._subscribing = false;
            this.subscribed = new Set([...this.subscribed].filter((f) => this.mids.has(f)));
            setTimeout(() => this._syncSubscription(), 1000);
          }
        }
        return;
      default:
    }
  }

  _feedsChanged({ feed, joined, left }) {
    if (feed !== undefined && feed !== null) this.feed = feed;
    for (const f of joined || []) {
      if (f.feed === this.feed) continue;
      this.feeds.set(f.feed, f);
      if ((f.streams || []).length > 0) this.wanted.add(f.feed);
    }
    for (const gone of left || []) {
      const info = this.feeds.get(gone);
      this.feeds.delete(gone);
      this.wanted.delete(gone);
      this.subscribed.delete(gone); // Janus drops its streams itself and offers again
      if (info && ![...this.feeds.values()].some((f) => f.session_id === info.session_id)) {
        this._peerGone(info.session_id);
      }
    }
    this._syncSubscription();
  }

  async _answerOffer({ sdp, streams }) {
    const side = this.sub || (this.sub = this._side("subscriber"));
    for (const s of streams || []) {
      if (s.mid !== undefined && s.mid !== null) this.mids.set(String(s.mid), s);
    }
    await side.pc.setRemoteDescription({ type: "offer", sdp });
    await side.pc.setLocalDescription();
    this._send({ type: "sfu.start", sdp: side.pc.localDescription.sdp });
    await this._flush(side);
    this._subscribing = false;
    this._reconcile();
    this._syncSubscription();
  }

  async _candidate({ target, candidate }) {
    const side = target === "publisher" ? this.pub : this.sub;
    if (!side || !candidate || !candidate.candidate) return; // Janus's end of candidates
    if (!side.pc.remoteDescription) {
      side.pending.push(candidate);
      return;
    }
    await this._addCandidate(side, candidate);
  }

  async _flush(side) {
    for (const candidate of side.pending.splice(0)) await this._addCandidate(side, candidate);
  }

  async _addCandidate(side, candidate) {
    try {
      await side.pc.addIceCandidate(candidate);
    } catch (error) {
      console.warn("sfu: candidate refused", error);
    }
  }

  // Each receiving transceiver's track in the stream of the peer whose feed it carries now
  // (Janus reuses an m-line of a feed that left for one that came).
  _reconcile() {
    const changed = new Set();
    for (const transceiver of this.sub.pc.getTransceivers()) {
      const track = transceiver.receiver.track;
      const stream = this.mids.get(transceiver.mid);
      const live = stream && stream.active !== false && transceiver.currentDirection !== "inactive"
        && this.feeds.has(stream.feed);
      for (const [peerId, media] of this.streams) {
        if (media.getTrackById(track.id) && (!live || peerId !== stream.session_id)) {
          media.removeTrack(track);
          changed.add(peerId);
        }
      }
      if (!live) continue;
      const media = this.streams.get(stream.session_id) || new MediaStream();
      this.streams.set(stream.session_id, media);
      if (!media.getTrackById(track.id)) {
        media.addTrack(track);
        changed.add(stream.session_id);
        track.onunmute = () => {
          if (this.streams.get(stream.session_id) === media) this.onTrack(stream.session_id, media);
        };
      }
    }
    for (const peerId of changed) {
      const media = this.streams.get(peerId);
      if (media && media.getTracks().length > 0) this.onTrack(peerId, media);
    }
  }

  _peerGone(sessionId) {
    if (!this.streams.has(sessionId)) return;
    this.streams.delete(sessionId);
    // While the mesh still carries this peer, its tile stays (the mesh tells when it goes).
    this.onPeerGone(sessionId);
  }

  // -- resume and the switch from the mesh -------------------------------------------------------

  _resume() {
    if (this.closed) return;
    this.generation += 1;
    this._teardown();
    this.feed = null;
    this.feeds.clear();
    this.wanted.clear();
    this.fence = `sfu-${this.generation}-${Math.random().toString(36).slice(2, 10)}`;
    if (!this._send({ type: "ping", id: this.fence })) this.fence = null;
    if (!this.fence) this._connect();
  }

  // The mesh keeps carrying the room until media flows through the SFU from every feed we know
  // of (or SWITCH_MAX_MS passed); then its connections close.
  async _retirePrevious() {
    const previous = this.previous;
    const deadline = Date.now() + SWITCH_MAX_MS;
    let before = new Map();
    while (this.previous === previous && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, FLOW_POLL_MS));
      const now = new Map();
      if (this.sub) {
        for (const s of await this.inboundStats()) {
          if (this.streams.has(s.peerId)) now.set(`${s.peerId}/${s.kind}`, s.bytesReceived);
        }
      }
      const flowing = new Set(
        [...now].filter(([key, bytes]) => bytes > (before.get(key) || 0)).map(([key]) => key.split("/")[0]),
      );
      before = now;
      const expected = new Set([...this.feeds.values()].map((f) => f.session_id));
      const published = this.pub && this.pub.pc.connectionState === "connected";
      if (published && expected.size > 0 && [...expected].every((id) => flowing.has(id))) break;
    }
    if (this.previous !== previous || this.closed) return;
    this.previous = null;
    const meshPeers = previous.peers ? [...previous.peers.keys()] : [];
    previous.close();
    // Tiles the mesh showed for peers the SFU does not carry (yet) go; they come back with
    // their feed.
    for (const peerId of meshPeers) if (!this.streams.has(peerId)) this.onPeerGone(peerId);
  }
}
