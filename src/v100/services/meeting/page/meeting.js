// The meeting page's app: the participant's token from the URL fragment, the pre-join check of
// camera and microphone, the waiting room, then the room: tiles, controls, people, chat, and
// for hosts the waiting room, breakout rooms and recording. Media is a replaceable layer
// (mesh.js, or sfu.js when the join answer says so); signaling.js and realtime.js are the
// two sockets. See docs/meeting-page.md.

import { SignalingClient } from "./signaling.js";
import { RealtimeClient } from "./realtime.js";
import { MeshMedia } from "./mesh.js";

const $ = (id) => document.getElementById(id);
const WAITING_POLL_MS = 2000;

class ProblemError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.slug = (problem.type || "").split("/").pop();
  }
}

// -- the credential: the URL fragment, never sent to the server ----------------------------

function readCredential() {
  const meetingId = decodeURIComponent(location.pathname.replace(/^\/meet\//, "").split("/")[0]);
  const key = `v100.meet.${meetingId}`;
  const fragment = new URLSearchParams(location.hash.slice(1));
  let token = fragment.get("token");
  if (token) {
    // Kept for a reload of this tab only, and taken off the address bar (screen shares,
    // copied links).
    sessionStorage.setItem(key, token);
    history.replaceState(null, "", location.pathname + location.search);
  } else {
    token = sessionStorage.getItem(key);
  }
  return { meetingId, token };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

class MeetingApp {
  constructor({ meetingId, token }) {
    this.meetingId = meetingId;
    this.token = token; // the participant's credential on the room routes
    this.roomToken = token; // what the sockets present: the token of the room we are in
    this.localStream = new MediaStream();
    this.cameraTrack = null;
    this.screenTrack = null;
    this.me = null;
    this.roomName = "main";
    this.peerNames = new Map(); // signaling session id -> {name, participant_id}
    this.media = null;
    this.signaling = null;
    this.realtime = null;
    this.recording = null;
    this.recorder = null;
    this.handRaised = false;
    this.states = { signaling: "idle", realtime: "idle" };
    this.view = "loading";
  }

  // -- HTTP ------------------------------------------------------------------------------

  async api(method, path, body) {
    const response = await fetch(`/v1/meetings/${encodeURIComponent(this.meetingId)}/room${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
    const data = response.status === 204 ? null : await response.json().catch(() => ({}));
    if (!response.ok) throw new ProblemError(response.status, data || {});
    return { status: response.status, data };
  }

  wsUrl(service) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/v1/${service}/rooms/${encodeURIComponent(this.meetingId)}`;
  }

  // -- views -----------------------------------------------------------------------------

  show(view) {
    this.view = view;
    $("app").dataset.view = view;
    for (const id of ["prejoin", "waiting", "ended", "room"]) $(id).hidden = id !== view;
  }

  notify(text) {
    const notice = $("notice");
    notice.textContent = text;
    notice.hidden = !text;
  }

  end(reason) {
    this.teardown();
    $("ended-reason").textContent = reason;
    this.show("ended");
  }

  // -- pre-join --------------------------------------------------------------------------

  async prejoin() {
    if (!this.token) {
      this.end("This link has no meeting token (#token=…).");
      return;
    }
    this.show("prejoin");
    this.localStream = await this.devices();
    $("preview").srcObject = this.localStream;
    this.cameraTrack = this.localStream.getVideoTracks()[0] || null;
    const audio = this.localStream.getAudioTracks()[0];
    $("devices").textContent = [
      audio ? "Microphone ready." : "No microphone.",
      this.cameraTrack ? "Camera ready." : "No camera.",
    ].join(" ");
    $("pre-mic").disabled = !audio;
    $("pre-cam").disabled = !this.cameraTrack;
    $("pre-mic").onclick = () => this.toggle("audio", $("pre-mic"));
    $("pre-cam").onclick = () => this.toggle("video", $("pre-cam"));
    $("join").onclick = () => this.join();
    $("join").disabled = false;
  }

  async devices() {
    const video = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 20 } };
    for (const constraints of [{ audio: true, video }, { audio: true }, { video }]) {
      try {
        return await navigator.mediaDevices.getUserMedia(constraints);
      } catch {
        // refused or missing: try with less, then join without devices
      }
    }
    return new MediaStream();
  }

  toggle(kind, button) {
    const track = kind === "audio" ? this.localStream.getAudioTracks()[0] : this.cameraTrack;
    if (!track) return;
    track.enabled = !track.enabled;
    for (const b of kind === "audio" ? [$("pre-mic"), $("mic")] : [$("pre-cam"), $("cam")]) {
      b.setAttribute("aria-pressed", String(track.enabled));
      b.textContent = (kind === "audio" ? "Mic" : "Camera") + (track.enabled ? " on" : " off");
    }
    if (this.realtime) this.realtime.state(kind === "audio" ? { mic: track.enabled } : { cam: track.enabled });
    return button;
  }

  // -- joining and the waiting room --------------------------------------------------------

  async join() {
    $("join").disabled = true;
    try {
      const { status, data } = await this.api("POST", "/join");
      this.me = data;
      if (status === 202) {
        this.show("waiting");
        $("waiting-leave").onclick = () => this.leave();
        this.waitForAdmission();
        return;
      }
      await this.enterRoom();
    } catch (error) {
      $("join").disabled = false;
      this.refused(error);
    }
  }

  async waitForAdmission() {
    while (this.view === "waiting") {
      await new Promise((resolve) => setTimeout(resolve, WAITING_POLL_MS));
      if (this.view !== "waiting") return;
      try {
        const { status, data } = await this.api("POST", "/join");
        this.me = data;
        if (status === 200) {
          await this.enterRoom();
          return;
        }
      } catch (error) {
        if (error.status >= 400 && error.status < 500) {
          this.refused(error);
          return;
        }
      }
    }
  }

  refused(error) {
    const reasons = {
      "participant-denied": "The host did not let you in.",
      "participant-removed": "You were removed from the meeting.",
      "meeting-ended": "The meeting has ended.",
      "meeting-locked": "The meeting is locked.",
      "meeting-full": "The meeting is full.",
      "meeting-token-invalid": "This meeting link is no longer valid.",
    };
    if (reasons[error.slug]) this.end(reasons[error.slug]);
    else this.notify(error.message);
  }

  // -- the room ----------------------------------------------------------------------------

  async enterRoom() {
    this.show("room");
    this.notify("");
    const { data: view } = await this.api("GET", "");
    this.me = view.me;
    $("meeting-title").textContent = view.meeting.title;
    document.title = view.meeting.title;
    const grants = this.me.grants;
    $("host-panel").hidden = !grants.admin;
    $("end").hidden = !grants.admin;
    $("record").hidden = !grants.record;
    this.recording = view.recordings[0] || null;
    this.renderRecording();
    this.bindControls();
    this.renderLocalTile();
    await this.connect();
    if (grants.admin) this.refreshHost();
  }

  async freshRoomToken() {
    const { data } = await this.api("POST", "/token");
    this.roomToken = data.token;
    this.roomName = data.room;
    return data.token;
  }

  async connect() {
    await this.freshRoomToken();
    $("room-name").textContent = this.roomName === "main" ? "" : `Breakout room`;
    this.signaling = new SignalingClient({
      url: this.wsUrl("signaling"),
      token: async () => this.roomToken,
      freshToken: () => this.freshRoomToken(),
    });
    this.realtime = new RealtimeClient({ url: this.wsUrl("realtime"), token: async () => this.roomToken });
    this.signaling.addEventListener("state", (e) => this.network("signaling", e.detail.state));
    this.signaling.addEventListener("message", (e) => this.onSignal(e.detail));
    this.realtime.addEventListener("connection", (e) => this.network("realtime", e.detail.state));
    this.realtime.addEventListener("participants", () => this.renderPeople());
    this.realtime.addEventListener("chat", (e) => this.renderChat(e.detail));
    this.realtime.addEventListener("meeting-event", (e) => this.onMeetingEvent(e.detail));
    const [answer] = await Promise.all([this.signaling.connect(), this.realtime.connect()]);
    for (const peer of answer.peers || []) this.peerNames.set(peer.session_id, peer);
    const audio = this.localStream.getAudioTracks()[0];
    this.realtime.state({
      mic: Boolean(audio && audio.enabled),
      cam: Boolean(this.cameraTrack && this.cameraTrack.enabled),
      hand_raised: this.handRaised,
      screen: Boolean(this.screenTrack),
    });
    this.mediaMode = (answer.media && answer.media.mode) || "mesh";
    this.media = await this.mediaLayer(answer);
    if (this.screenTrack) await this.media.replaceVideoTrack(this.screenTrack);
    await this.switchMedia();
  }

  async mediaLayer(answer, previous = null) {
    const options = {
      signaling: this.signaling,
      localStream: this.localStream,
      onTrack: (peerId, stream) => this.renderRemoteTile(peerId, stream),
      onPeerGone: (peerId) => this.removeTile(peerId),
      previous, // sfu.js takes over from the mesh without a gap (docs/sfu.md)
    };
    let Media = MeshMedia;
    if (answer.media && answer.media.mode === "sfu") {
      ({ SfuMedia: Media } = await import("./sfu.js"));
    }
    const media = new Media(options);
    await media.start(answer);
    return media;
  }

  // The room moved to the SFU (the `media` message): the mesh carries it until the SFU does.
  // A room goes back to a mesh only once it is empty, so there is no way back here.
  async switchMedia() {
    const current = this.media;
    if (this.mediaMode !== "sfu" || !current || current.mode === "sfu" || this._switching) return;
    this._switching = true;
    try {
      const sfu = await this.mediaLayer({ media: { mode: "sfu" }, ice_servers: current.iceServers }, current);
      if (this.media !== current) {
        sfu.close(); // left or changed rooms meanwhile
        return;
      }
      this.media = sfu;
      if (this.screenTrack) await sfu.replaceVideoTrack(this.screenTrack);
    } finally {
      this._switching = false;
    }
  }

  disconnect() {
    if (this.media) this.media.close();
    if (this.signaling) this.signaling.leave();
    if (this.realtime) this.realtime.leave();
    this.media = this.signaling = this.realtime = null;
    for (const tile of [...document.querySelectorAll(".tile.remote")]) tile.remove();
    this.peerNames.clear();
  }

  async switchRoom() {
    this.disconnect();
    this.network("signaling", "reconnecting");
    try {
      await this.connect();
    } catch (error) {
      this.refused(error);
    }
  }

  teardown() {
    this.disconnect();
    for (const track of this.localStream.getTracks()) track.stop();
    if (this.screenTrack) this.screenTrack.stop();
  }

  network(source, state) {
    this.states[source] = state;
    const states = Object.values(this.states);
    let shown = "connected";
    if (states.includes("failed")) shown = "failed";
    else if (states.some((s) => s === "reconnecting" || s === "connecting")) shown = "reconnecting…";
    const node = $("network");
    node.textContent = shown;
    node.dataset.state = shown === "connected" ? "open" : shown === "failed" ? "failed" : "reconnecting";
  }

  onSignal(message) {
    if (message.type === "peer.joined") this.peerNames.set(message.peer.session_id, message.peer);
    if (message.type === "peer.left") this.peerNames.delete(message.session_id);
    if (message.type === "media") {
      this.mediaMode = message.mode;
      this.switchMedia().catch((error) => console.warn("media switch:", error));
    }
  }

  onMeetingEvent(event) {
    const data = event.data || {};
    const mine = data.participant && this.me && data.participant.id === this.me.id;
    switch (event.type) {
      case "meeting.participant.moved":
        if (mine) {
          this.roomName = data.participant.room;
          this.switchRoom();
        }
        break;
      case "meeting.participant.left":
        if (mine && data.reason === "removed") this.end("You were removed from the meeting.");
        break;
      case "meeting.ended":
        this.end("The meeting has ended.");
        return;
      case "meeting.broadcast":
        this.notify(`Host: ${data.message}`);
        break;
      case "meeting.participant.mute_requested":
        if (mine) {
          const track = data.kind === "video" ? this.cameraTrack : this.localStream.getAudioTracks()[0];
          if (track && track.enabled) this.toggle(data.kind === "video" ? "video" : "audio");
          this.notify(`The host asked you to turn off your ${data.kind === "video" ? "camera" : "microphone"}.`);
        }
        break;
      case "meeting.recording.started":
        if (!this.recording || this.recording.id !== data.recording_id) {
          this.recording = { id: data.recording_id, status: "recording" };
        }
        this.renderRecording();
        break;
      case "meeting.recording.stopped":
        this.recording = null;
        this.renderRecording();
        // Stopped by someone else (or the meeting's end) while this page records it: send
        // what is left; the server may already have ended the upload (recorder.js says so).
        if (this.recorder && this.recorder.recordingId === data.recording_id) this.finishRecorder();
        break;
      default:
    }
    if (this.me && this.me.grants.admin) this.refreshHost();
  }

  // -- controls ----------------------------------------------------------------------------

  bindControls() {
    $("mic").onclick = () => this.toggle("audio");
    $("cam").onclick = () => this.toggle("video");
    $("screen").onclick = () => (this.screenTrack ? this.stopShare() : this.share());
    $("hand").onclick = () => this.raiseHand(!this.handRaised);
    $("record").onclick = () => (this.recording ? this.stopRecording() : this.startRecording());
    $("leave").onclick = () => this.leave();
    $("end").onclick = () => this.endForAll();
    $("chat-form").onsubmit = (event) => {
      event.preventDefault();
      const text = $("chat-text").value.trim();
      if (text && this.realtime && this.realtime.chat(text)) $("chat-text").value = "";
    };
    $("mic").disabled = !this.localStream.getAudioTracks()[0];
    $("cam").disabled = !this.cameraTrack;
    $("screen").disabled = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    for (const kind of ["audio", "video"]) {
      const track = kind === "audio" ? this.localStream.getAudioTracks()[0] : this.cameraTrack;
      const button = $(kind === "audio" ? "mic" : "cam");
      const on = Boolean(track && track.enabled);
      button.setAttribute("aria-pressed", String(on));
      button.textContent = (kind === "audio" ? "Mic" : "Camera") + (on ? " on" : " off");
    }
    document.onkeydown = (event) => {
      if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
      const actions = { m: "mic", v: "cam", s: "screen", h: "hand" };
      const id = actions[event.key.toLowerCase()];
      if (id && this.view === "room") $(id).click();
    };
    const host = $("host-panel");
    $("admit-all").onclick = () => this.hostAction("POST", "/waiting/admit-all");
    $("close-breakouts").onclick = () => this.hostAction("POST", "/breakouts/close");
    $("breakout-form").onsubmit = (event) => {
      event.preventDefault();
      const name = $("breakout-name").value.trim();
      if (name) this.hostAction("POST", "/breakouts", { names: [name] }).then(() => ($("breakout-name").value = ""));
    };
    host.dataset.bound = "1";
  }

  raiseHand(raised) {
    this.handRaised = raised;
    $("hand").setAttribute("aria-pressed", String(raised));
    $("hand").textContent = raised ? "Lower hand" : "Raise hand";
    if (this.realtime) this.realtime.state({ hand_raised: raised });
  }

  async share() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      return; // the user cancelled
    }
    this.screenTrack = stream.getVideoTracks()[0];
    this.screenTrack.onended = () => this.stopShare();
    if (this.media) await this.media.replaceVideoTrack(this.screenTrack);
    this.renderLocalTile();
    $("screen").setAttribute("aria-pressed", "true");
    $("screen").textContent = "Stop sharing";
    if (this.realtime) this.realtime.state({ screen: true });
  }

  async stopShare() {
    if (!this.screenTrack) return;
    this.screenTrack.stop();
    this.screenTrack = null;
    if (this.media) await this.media.replaceVideoTrack(this.cameraTrack);
    this.renderLocalTile();
    $("screen").setAttribute("aria-pressed", "false");
    $("screen").textContent = "Share screen";
    if (this.realtime) this.realtime.state({ screen: false });
  }

  async startRecording() {
    // Kept here: the realtime event of this start may replace this.recording meanwhile with
    // one that has no upload URL.
    let recording;
    try {
      recording = (await this.api("POST", "/recordings")).data;
      this.recording = recording;
      this.renderRecording();
    } catch (error) {
      this.notify(error.message);
      return;
    }
    const recordingId = recording.id;
    try {
      // Loaded on first use: a page that never records never fetches it.
      const module = await import("./recorder.js");
      this.recorder = await module.startRecording({
        recording,
        token: this.token,
        roomUrl: `/v1/meetings/${encodeURIComponent(this.meetingId)}/room`,
        streams: () => [this.localStream, ...[...document.querySelectorAll(".tile.remote video")].map((v) => v.srcObject)],
      });
      this.recorder.recordingId = recordingId;
      this.recorder.onerror = (error) => this.notify(this.recorderTrouble(error));
    } catch (error) {
      this.notify(`The recorder failed: ${error.message}`);
    }
  }

  recorderTrouble(error) {
    return error.endedElsewhere
      ? "The recording was ended elsewhere; what was uploaded is kept."
      : `The recorder failed: ${error.message}`;
  }

  // Our recorder's last chunks, then where the recording's media stands until it is ready.
  async finishRecorder() {
    const recorder = this.recorder;
    this.recorder = null;
    if (!recorder) return;
    this.renderRecordingStatus("uploading", "Recording: uploading the last part");
    try {
      await recorder.stop();
    } catch (error) {
      this.notify(this.recorderTrouble(error));
    }
    this.followRecording(recorder.recordingId);
  }

  async stopRecording() {
    const recording = this.recording;
    if (this.recorder) await this.finishRecorder();
    try {
      await this.api("POST", `/recordings/${encodeURIComponent(recording.id)}/stop`);
    } catch (error) {
      if (error.slug !== "recording-not-active") this.notify(error.message);
    }
    this.recording = null;
    this.renderRecording();
    this.followRecording(recording.id);
  }

  // Polls the room route (record grant) until the media is ready (a download link) or errored.
  async followRecording(recordingId) {
    if (this.following === recordingId) return;
    this.following = recordingId;
    const path = `/recordings/${encodeURIComponent(recordingId)}`;
    while (this.following === recordingId && this.view === "room") {
      let media = null;
      try {
        media = (await this.api("GET", path)).data.media;
      } catch (error) {
        if (error.status === 403 || error.status === 404) break;
      }
      if (media && media.status === "ready") {
        const mp4 = media.downloads.find((link) => link.kind === "mp4" || link.kind === "m4a");
        this.renderRecordingStatus("ready", "Recording ready: ", mp4);
        break;
      }
      if (media && media.status === "errored") {
        this.renderRecordingStatus("errored", `Recording failed: ${media.error_detail || media.error}`);
        break;
      }
      if (media) {
        const stage = media.status === "uploading" ? "uploading" : `${media.stage} ${media.percent}%`;
        this.renderRecordingStatus(media.status, `Recording: ${stage}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    if (this.following === recordingId) this.following = null;
  }

  renderRecordingStatus(status, text, link) {
    const box = $("recording-status");
    box.hidden = false;
    box.dataset.status = status;
    box.textContent = text;
    if (link) {
      const anchor = document.createElement("a");
      anchor.id = "recording-download";
      anchor.href = link.url;
      anchor.download = link.filename;
      anchor.textContent = `Download ${link.filename}`;
      box.append(anchor);
    }
  }

  renderRecording() {
    const on = Boolean(this.recording);
    $("recording-badge").hidden = !on;
    $("record").setAttribute("aria-pressed", String(on));
    $("record").textContent = on ? "Stop recording" : "Record";
  }

  async leave() {
    try {
      await this.api("POST", "/leave");
    } catch {
      // leaving anyway: presence expires without heartbeats
    }
    this.end("You left the meeting.");
  }

  async endForAll() {
    try {
      await this.api("POST", "/end");
    } catch (error) {
      this.notify(error.message);
    }
  }

  // -- host panel ----------------------------------------------------------------------------

  async hostAction(method, path, body) {
    try {
      const { data } = await this.api(method, path, body);
      this.refreshHost();
      return data;
    } catch (error) {
      this.notify(error.message);
      return null;
    }
  }

  refreshHost() {
    clearTimeout(this._hostTimer);
    this._hostTimer = setTimeout(() => this.renderHost().catch(() => {}), 150);
  }

  async renderHost() {
    if (this.view !== "room") return;
    const { data: view } = await this.api("GET", "");
    const rooms = new Map(view.breakout_rooms.map((r) => [r.id, r.name]));
    const roomLabel = (id) => (id === "main" ? "Main room" : rooms.get(id) || "a room");
    $("knockers").replaceChildren(
      ...view.waiting.map((p) =>
        el("li", {}, p.name,
          el("button", { type: "button", "aria-label": `Admit ${p.name}`, onclick: () => this.hostAction("POST", `/waiting/${p.id}/admit`) }, "Admit"),
          el("button", { type: "button", "aria-label": `Deny ${p.name}`, onclick: () => this.hostAction("POST", `/waiting/${p.id}/deny`) }, "Deny")),
      ),
    );
    $("admit-all").disabled = view.waiting.length === 0;
    $("breakouts").replaceChildren(
      ...view.breakout_rooms.map((r) => el("li", {}, `${r.name} (${r.participant_ids.length})`)),
    );
    $("close-breakouts").disabled = view.breakout_rooms.length === 0;
    $("everyone").replaceChildren(
      ...view.participants.filter((p) => p.id !== this.me.id).map((p) => {
        const select = el("select", { "aria-label": `Room for ${p.name}` },
          ...["main", ...rooms.keys()].map((id) => {
            const option = el("option", { value: id }, roomLabel(id));
            option.selected = id === p.room;
            return option;
          }));
        return el("li", { "data-participant": p.id }, `${p.name}: ${roomLabel(p.room)}`, select,
          el("button", { type: "button", "aria-label": `Move ${p.name}`, onclick: () => this.hostAction("POST", `/participants/${p.id}/move`, { room: select.value }) }, "Move"));
      }),
    );
  }

  // -- rendering -----------------------------------------------------------------------------

  tile(id, label, local) {
    let node = document.querySelector(`.tile[data-peer="${CSS.escape(id)}"]`);
    if (!node) {
      const video = el("video", { autoplay: "", playsinline: "", "aria-label": `Video of ${label}` });
      video.muted = local;
      node = el("figure", { class: `tile ${local ? "local" : "remote"}`, "data-peer": id }, video,
        el("figcaption", { class: "label" }, label));
      $("tiles").append(node);
    }
    return node;
  }

  renderLocalTile() {
    const node = this.tile("local", "You", true);
    const video = node.querySelector("video");
    const track = this.screenTrack || this.cameraTrack;
    video.srcObject = track ? new MediaStream([track]) : null;
  }

  renderRemoteTile(peerId, stream) {
    const info = this.peerNames.get(peerId);
    const node = this.tile(peerId, info ? info.name : "Guest", false);
    if (info) node.dataset.participant = info.participant_id;
    const video = node.querySelector("video");
    if (video.srcObject !== stream) video.srcObject = stream;
    video.play().catch(() => {});
  }

  removeTile(peerId) {
    const node = document.querySelector(`.tile[data-peer="${CSS.escape(peerId)}"]`);
    if (node) node.remove();
  }

  renderPeople() {
    const people = [...this.realtime.participants.values()];
    $("people").replaceChildren(
      ...people.map((p) => {
        const s = p.state || {};
        const marks = [
          s.hand_raised ? "✋ hand raised" : null,
          s.mic ? null : "muted",
          s.cam ? null : "camera off",
          s.screen ? "sharing screen" : null,
        ].filter(Boolean);
        return el("li", { "data-participant": p.participant_id, "data-hand": String(Boolean(s.hand_raised)) },
          el("span", { class: "name" }, p.name + (this.me && p.participant_id === this.me.id ? " (you)" : "")),
          el("span", { class: "marks" }, marks.join(", ")));
      }),
    );
  }

  renderChat(message) {
    const log = $("chat-log");
    const time = new Date(message.time);
    log.append(el("li", {},
      el("span", { class: "who" }, `${message.name}: `),
      el("span", { class: "text" }, message.text),
      el("time", { datetime: message.time, class: "sr-only" }, time.toLocaleTimeString())));
    log.scrollTop = log.scrollHeight;
  }

  // For tests and diagnostics: what the media layer receives.
  async inboundStats() {
    return this.media ? this.media.inboundStats() : [];
  }
}

const app = new MeetingApp(readCredential());
window.v100Meeting = app;
app.prejoin().catch((error) => app.notify(String(error)));
