// The realtime socket's client (docs/realtime.md): who is in the room and their state, chat,
// and the meeting's live events. Every message is numbered per room: a dropped socket
// reconnects with `since` (the last seq handled) and gets what it missed, or a snapshot.

const FATAL = new Set([1000, 4400, 4403]);
const MAX_BACKOFF_MS = 5000;

export class RealtimeClient extends EventTarget {
  // url: the room's WebSocket URL; token(): the meeting token to present (async).
  constructor({ url, token }) {
    super();
    this.url = url;
    this.token = token;
    this.seq = null;
    this.participants = new Map(); // participant id -> {participant_id, name, role, state}
    this.socket = null;
    this.closed = false;
    this.attempt = 0;
    this.heartbeat = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      this._firstJoin = { resolve, reject };
      this._open();
    });
  }

  state(changes) {
    return this._send({ type: "state", ...changes });
  }

  chat(text) {
    return this._send({ type: "chat", text });
  }

  leave() {
    this.closed = true;
    clearInterval(this.heartbeat);
    if (!this._send({ type: "leave" }) && this.socket) this.socket.close(1000);
  }

  _send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async _open() {
    if (this.closed) return;
    let token;
    try {
      token = await this.token();
    } catch (error) {
      this._fail(4401, String(error));
      return;
    }
    this._emit("connection", { state: this.seq === null ? "connecting" : "reconnecting" });
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      const join = { type: "join", token };
      if (this.seq !== null) join.since = this.seq;
      socket.send(JSON.stringify(join));
    };
    socket.onmessage = (event) => this._receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearInterval(this.heartbeat);
      this._closed(event.code, event.reason);
    };
  }

  _receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "joined") {
      this.seq = message.seq;
      this.attempt = 0;
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => this._send({ type: "heartbeat" }), message.heartbeat_interval_ms);
      if (!message.resumed) {
        this.participants = new Map(message.participants.map((p) => [p.participant_id, p]));
        this._emit("participants", this.participants);
      }
      this._emit("connection", { state: "open" });
      if (this._firstJoin) {
        this._firstJoin.resolve(message);
        this._firstJoin = null;
      }
      return;
    }
    if (typeof message.seq === "number") {
      if (this.seq !== null && message.seq <= this.seq) return;
      this.seq = message.seq;
    }
    switch (message.type) {
      case "participant.joined":
        this.participants.set(message.participant.participant_id, message.participant);
        this._emit("participants", this.participants);
        break;
      case "participant.updated": {
        const who = this.participants.get(message.participant_id);
        if (who) Object.assign(who.state, message.changes);
        this._emit("participants", this.participants);
        break;
      }
      case "participant.left":
        this.participants.delete(message.participant_id);
        this._emit("participants", this.participants);
        break;
      case "chat":
        this._emit("chat", message);
        break;
      case "meeting.event":
        this._emit("meeting-event", message.event);
        break;
      case "error":
        console.warn("realtime:", message.code, message.detail);
        break;
      default:
    }
  }

  _closed(code, reason) {
    if (this.closed) return;
    if (FATAL.has(code) || (this._firstJoin && code >= 4400 && code !== 4429 && code !== 4508)) {
      this._fail(code, reason);
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    this._emit("connection", { state: "reconnecting", code });
    setTimeout(() => this._open(), delay);
  }

  _fail(code, reason) {
    this.closed = true;
    this._emit("connection", { state: "failed", code, reason });
    if (this._firstJoin) {
      this._firstJoin.reject(new Error(`realtime refused (${code}): ${reason}`));
      this._firstJoin = null;
    }
  }
}
