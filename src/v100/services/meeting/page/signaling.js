// The signaling socket's client (docs/meeting-signaling.md): the meeting token as the first
// message, every numbered message handled once (seq), a dropped socket resumed with
// session_id + last_seq, a fresh token asked for when one is refused 4401.

const FATAL = new Set([1000, 4400, 4403, 4409, 4413]);
const MAX_BACKOFF_MS = 5000;

export class SignalingClient extends EventTarget {
  // url: the room's WebSocket URL; token(): the meeting token to present (async);
  // freshToken(): a new one after a 4401 (async; throws when there is none).
  constructor({ url, token, freshToken }) {
    super();
    this.url = url;
    this.token = token;
    this.freshToken = freshToken;
    this.sessionId = null;
    this.lastSeq = 0;
    this.socket = null;
    this.closed = false;
    this.attempt = 0;
    this.state = "idle";
  }

  // Opens the socket; resolves with the first `joined` answer.
  connect() {
    return new Promise((resolve, reject) => {
      this._firstJoin = { resolve, reject };
      this._open();
    });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false; // dropped: perfect negotiation and ICE restarts recover what matters
  }

  leave() {
    this.closed = true;
    if (!this.send({ type: "leave" }) && this.socket) this.socket.close(1000);
    this._setState("closed");
  }

  _setState(state, detail = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, ...detail } }));
  }

  async _open(refreshToken = false) {
    if (this.closed) return;
    let token;
    try {
      token = refreshToken ? await this.freshToken() : await this.token();
    } catch (error) {
      this._fail(4401, String(error));
      return;
    }
    this._setState(this.sessionId ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      const join = { type: "join", token };
      if (this.sessionId) Object.assign(join, { session_id: this.sessionId, last_seq: this.lastSeq });
      socket.send(JSON.stringify(join));
    };
    socket.onmessage = (event) => this._receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
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
    if (message.type === "ping") {
      this.send({ type: "pong", id: message.id });
      return;
    }
    if (message.type === "joined") {
      const resumedSession = message.resumed === true;
      const wasNew = this.sessionId !== null && !resumedSession;
      this.sessionId = message.session_id;
      // A resume replays what came after last_seq; a new session numbers from 1 again.
      if (!resumedSession) this.lastSeq = 0;
      this.attempt = 0;
      this._refusedOnce = false;
      this._setState("open");
      if (this._firstJoin) {
        this._firstJoin.resolve(message);
        this._firstJoin = null;
      } else {
        // wasNew: the old session was over (grace ran out); peers must be met again.
        this.dispatchEvent(new CustomEvent(wasNew ? "rejoined" : "resumed", { detail: message }));
      }
      return;
    }
    if (typeof message.seq === "number") {
      if (message.seq <= this.lastSeq) return; // seen already (replayed, then live)
      this.lastSeq = message.seq;
    }
    this.dispatchEvent(new CustomEvent("message", { detail: message }));
  }

  _closed(code, reason) {
    if (this.closed) return;
    if (code === 4401) {
      // The token expired or was refused: resume with a fresh one (within the grace window).
      if (this._refusedOnce) {
        this._fail(code, reason);
        return;
      }
      this._refusedOnce = true;
      this._open(true);
      return;
    }
    this._refusedOnce = false;
    if (FATAL.has(code) || (this._firstJoin && code >= 4400 && code !== 4429 && code !== 4508)) {
      this._fail(code, reason);
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    this._setState("reconnecting", { code });
    setTimeout(() => this._open(), delay);
  }

  _fail(code, reason) {
    this.closed = true;
    this._setState("failed", { code, reason });
    if (this._firstJoin) {
      this._firstJoin.reject(new Error(`signaling refused (${code}): ${reason}`));
      this._firstJoin = null;
    }
  }
}
