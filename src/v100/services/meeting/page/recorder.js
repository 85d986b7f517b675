// Recording a meeting in the host's browser (docs/adr/0057): every participant's video drawn
// into one canvas grid with names, every audio track mixed by WebAudio, MediaRecorder writing
// WebM chunks every `timeslice` ms, each appended to recording_processor over tus by the small
// client below (no library: the page is served without a build step).
//
//   const recording = await (await fetch(`/v1/meetings/${id}/room/recordings`, {method: "POST",
//     headers: {Authorization: `Bearer ${token}`}})).json();
//   const recorder = await startRecording({recording, token, streams: () => tiles});
//   recorder.onprogress = ({uploaded, buffered, state}) => ...;
//   await recorder.stop();  // the last chunk stored, the recording stopped: processing starts
//
// `streams()` answers the current MediaStreams, or {stream, name} objects; it is asked on every
// frame, so a participant who reconnects (a new MediaStream for their tile) is drawn from their
// new stream at once. Chunks stay in memory until the server has stored them: a network drop
// only delays them (the client asks the server's offset with HEAD and goes on from there, so
// nothing is lost or sent twice). Past `maxBufferedBytes` unacknowledged bytes, the recording
// itself stops (what was recorded is still uploaded and kept) and `onerror` says why.
//
// The meeting may end the upload without this page (another holder of `record` stopped the
// recording, or the meeting ended: the server keeps what it stored and makes the MP4 of it).
// A chunk sent after that answers 409; the client then sees the upload finished at a length
// it did not send, and fails with an error whose `endedElsewhere` is true.

const TUS = {"Tus-Resumable": "1.0.0"};
const MiB = 1024 * 1024;

export async function startRecording({
  recording, token, streams, timeslice = 2000, maxBufferedBytes = 256 * MiB,
  width = 1280, height = 720, fps = 15, roomUrl = null,
}) {
  const media = recording.media || recording;
  const uploadUrl = media.upload_url;
  if (!uploadUrl) throw new Error("the recording has no upload URL (it is not uploading)");
  const upload = new TusAppender(uploadUrl);
  if ((await upload.serverOffset()) !== 0) {
    throw new Error("this recording already has content: stop it and start a new one");
  }

  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const compositor = new Compositor(canvas, streams);
  const mixer = new AudioMixer();
  compositor.onstreams = (list) => mixer.follow(list);
  compositor.start(fps);

  const mixed = new MediaStream([
    ...canvas.captureStream(fps).getVideoTracks(),
    ...mixer.output.getAudioTracks(),
  ]);
  const mimeType = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm"]
    .find((type) => MediaRecorder.isTypeSupported(type));
  const recorder = new MediaRecorder(mixed, {mimeType, videoBitsPerSecond: 1_500_000});
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });

  const handle = {
    onprogress: null,
    onerror: null,
    state: "recording",
    async stop() {
      if (recorder.state !== "inactive") recorder.stop();
      await stopped;
      compositor.stop();
      mixer.close();
      handle.state = "uploading";
      report();
      await upload.finish();
      handle.state = "uploaded";
      report();
      if (token && roomUrl !== false) {
        const room = roomUrl || `/v1/meetings/${recording.meeting_id}/room`;
        await fetch(`${room}/recordings/${recording.id}/stop`, {
          method: "POST", headers: {Authorization: `Bearer ${token}`},
        });
      }
      handle.state = "stopped";
      report();
    },
  };
  const report = () => {
    if (handle.onprogress) {
      handle.onprogress({state: handle.state, recorded: upload.appended,
        uploaded: upload.offset, buffered: upload.appended - upload.offset});
    }
  };
  upload.onchange = report;
  upload.onfatal = (error) => {
    if (recorder.state !== "inactive") recorder.stop();
    if (handle.onerror) handle.onerror(error);
  };
  recorder.ondataavailable = (event) => {
    if (event.data && event.data.size > 0) upload.append(event.data);
    if (upload.appended - upload.offset > maxBufferedBytes && recorder.state !== "inactive") {
      recorder.stop();
      if (handle.onerror) {
        handle.onerror(new Error("the upload fell too far behind: recording stopped"));
      }
    }
    report();
  };
  recorder.start(timeslice);
  return handle;
}

// Draws the tiles into a grid, names below, on a timer (requestAnimationFrame stops in a
// hidden tab; a recording must not).
class Compositor {
  constructor(canvas, streams) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.streams = streams;
    this.videos = new Map();  // MediaStream -> <video>
    this.onstreams = null;
    this.timer = null;
  }

  start(fps) { this.timer = setInterval(() => this.draw(), 1000 / fps); this.draw(); }

  stop() {
    clearInterval(this.timer);
    for (const video of this.videos.values()) video.srcObject = null;
    this.videos.clear();
  }

  tiles() {
    return (this.streams() || []).filter(Boolean).map((item) => (
      item instanceof MediaStream ? {stream: item, name: ""} : {stream: item.stream, name: item.name || ""}
    )).filter((tile) => tile.stream);
  }

  sync(tiles) {
    const wanted = new Set(tiles.map((tile) => tile.stream));
    let changed = false;
    for (const [stream, video] of this.videos) {
      if (!wanted.has(stream)) { video.srcObject = null; this.videos.delete(stream); changed = true; }
    }
    for (const stream of wanted) {
      if (this.videos.has(stream)) continue;
      const video = document.createElement("video");
      video.muted = true;
      video.playsInline = true;
      video.srcObject = stream;
      video.play().catch(() => {});
      this.videos.set(stream, video);
      changed = true;
    }
    const trackKey = tiles.map((t) => t.stream.getTracks().map((k) => k.id).join(",")).join(";");
    if (changed || trackKey !== this.trackKey) {
      this.trackKey = trackKey;
      if (this.onstreams) this.onstreams(tiles.map((tile) => tile.stream));
    }
  }

  draw() {
    const tiles = this.tiles();
    this.sync(tiles);
    const {context, canvas} = this;
    context.fillStyle = "#111";
    context.fillRect(0, 0, canvas.width, canvas.height);
    if (tiles.length === 0) return;
    const columns = Math.ceil(Math.sqrt(tiles.length));
    const rows = Math.ceil(tiles.length / columns);
    const cellWidth = canvas.width / columns;
    const cellHeight = canvas.height / rows;
    tiles.forEach((tile, index) => {
      const x = (index % columns) * cellWidth;
      const y = Math.floor(index / columns) * cellHeight;
      const video = this.videos.get(tile.stream);
      if (video && video.videoWidth > 0) {
        const scale = Math.min(cellWidth / video.videoWidth, cellHeight / video.videoHeight);
        const w = video.videoWidth * scale;
        const h = video.videoHeight * scale;
        context.drawImage(video, x + (cellWidth - w) / 2, y + (cellHeight - h) / 2, w, h);
      }
      if (tile.name) {
        context.fillStyle = "rgba(0,0,0,0.6)";
        context.fillRect(x + 8, y + cellHeight - 36, Math.min(cellWidth - 16, 16 + 11 * tile.name.length), 28);
        context.fillStyle = "#fff";
        context.font = "18px sans-serif";
        context.fillText(tile.name, x + 16, y + cellHeight - 16);
      }
    });
  }
}

// Mixes every audio track of the tiles into one; follows tracks coming and going.
class AudioMixer {
  constructor() {
    this.context = new AudioContext();
    this.context.resume().catch(() => {});
    this.destination = this.context.createMediaStreamDestination();
    // A silent source keeps the audio track running when nobody has a microphone.
    const silence = this.context.createConstantSource();
    silence.offset.value = 0;
    silence.connect(this.destination);
    silence.start();
    this.sources = new Map();  // track id -> source node
    this.output = this.destination.stream;
  }

  follow(streams) {
    const tracks = streams.flatMap((stream) => stream.getAudioTracks())
      .filter((track) => track.readyState === "live");
    const wanted = new Set(tracks.map((track) => track.id));
    for (const [id, source] of this.sources) {
      if (!wanted.has(id)) { source.disconnect(); this.sources.delete(id); }
    }
    for (const track of tracks) {
      if (this.sources.has(track.id)) continue;
      const source = this.context.createMediaStreamSource(new MediaStream([track]));
      source.connect(this.destination);
      this.sources.set(track.id, source);
    }
  }

  close() { this.context.close().catch(() => {}); }
}

// A tus 1.0 client for one upload made with a deferred length: chunks are appended in order
// (PATCH at the server's offset), kept until the server has them, and resent from the offset
// the server reports (HEAD) after any failure; `finish()` sends Upload-Length.
class TusAppender {
  constructor(url) {
    this.url = url;
    this.chunks = [];     // {start, blob}, not yet all stored
    this.appended = 0;    // bytes handed to us
    this.offset = 0;      // bytes the server has stored
    this.final = false;
    this.done = false;
    this.fatal = null;
    this.running = null;
    this.onchange = null;
    this.onfatal = null;
  }

  async serverOffset() {
    const response = await fetch(this.url, {method: "HEAD", headers: TUS, cache: "no-store"});
    if (!response.ok) throw new TusError(response.status, "HEAD");
    this.offset = Number(response.headers.get("Upload-Offset"));
    const length = response.headers.get("Upload-Length");
    // Set once the upload is finished: by our last chunk, or by the meeting without us.
    this.serverLength = length === null ? null : Number(length);
    return this.offset;
  }

  // After a HEAD: an upload the server finished is done if it ended with everything we sent
  // as our last chunk (its answer was lost), else it was ended elsewhere.
  settled() {
    if (this.serverLength === null || this.serverLength === undefined) return false;
    if (this.final && this.serverLength === this.appended) {
      if (this.offset < this.appended) return false;  // our own length: go on sending
      this.done = true;
    } else {
      this.fatal = new TusError(409, "PATCH", true);
      this.fatal.endedElsewhere = true;
      this.fatal.message = "the recording was ended elsewhere; what was uploaded is kept";
      if (this.onfatal) this.onfatal(this.fatal);
    }
    return true;
  }

  append(blob) {
    this.chunks.push({start: this.appended, blob});
    this.appended += blob.size;
    this.pump();
  }

  async finish() {
    this.final = true;
    await this.pump();
    while (!this.done) {
      if (this.fatal) throw this.fatal;
      await this.pump();
    }
  }

  pump() {
    if (!this.running) {
      this.running = this.run().finally(() => { this.running = null; });
    }
    return this.running;
  }

  async run() {
    let delay = 250;
    while (!this.done && !this.fatal) {
      const pending = this.offset < this.appended;
      if (!pending && !this.final) return;
      try {
        await this.send();
        delay = 250;
      } catch (error) {
        if (error instanceof TusError && error.fatal) {
          this.fatal = error;
          if (this.onfatal) this.onfatal(error);
          return;
        }
        // Offline, a dropped connection, a server restarting, a conflict: wait, then ask
        // the server where it stands and go on from there.
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
        try { await this.serverOffset(); } catch (_) { /* still offline: try again */ }
        if (this.settled()) return;
        this.forget();
      }
    }
  }

  // Drop the chunks the server has whole.
  forget() {
    while (this.chunks.length && this.chunks[0].start + this.chunks[0].blob.size <= this.offset) {
      this.chunks.shift();
    }
  }

  async send() {
    this.forget();
    const head = this.chunks[0];
    const body = head ? head.blob.slice(this.offset - head.start) : new Blob([]);
    const last = this.final && this.chunks.length <= 1;
    const headers = {...TUS, "Content-Type": "application/offset+octet-stream",
      "Upload-Offset": String(this.offset)};
    if (last) headers["Upload-Length"] = String(this.appended);
    const response = await fetch(this.url, {method: "PATCH", headers, body});
    if (response.status === 204) {
      this.offset = Number(response.headers.get("Upload-Offset"));
      this.forget();
      if (last && this.offset === this.appended) this.done = true;
      if (this.onchange) this.onchange();
      return;
    }
    if (response.status === 413) {
      // Past the largest recording accepted: end the upload with what fits (the next PATCH
      // sends Upload-Length at the stored offset) and say so.
      this.appended = this.offset;
      this.chunks = [];
      this.final = true;
      if (this.onfatal) this.onfatal(new TusError(413, "PATCH", true));
      return;
    }
    throw new TusError(response.status, "PATCH", [400, 403, 404, 410].includes(response.status));
  }
}

class TusError extends Error {
  constructor(status, method, fatal = false) {
    super(`${method} answered ${status}`);
    this.status = status;
    this.fatal = fatal;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
