// The chat WebSocket: first-frame authentication, acks matched by ref, a heartbeat, and
// reconnection with exponential backoff after any drop.
//
// The token goes in the first frame rather than the URL, so it never lands in proxy or
// server access logs. States: "connecting" → "open" → "reconnecting" → "open" …, or "closed".

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15_000;
const ACK_TIMEOUT_MS = 15_000;
const HEARTBEAT_MS = 25_000;
const CLOSE_UNAUTHENTICATED = 4401;

export class SocketError extends Error {
  constructor(code, message, retryAfter = null) {
    super(message);
    this.code = code;
    this.retryAfter = retryAfter; // seconds, on `rate_limited`
  }
}

export class ChatSocket {
  constructor({ url, getToken, renewToken, onState = () => {} }) {
    this.url = url;
    this.getToken = getToken; // () => current access token
    this.renewToken = renewToken; // () => Promise of a fresh access token (after a 4401)
    this.onState = onState;
    this.handlers = new Map();
    this.pending = new Map();
    this.nextRef = 1;
    this.attempt = 0;
    this.ws = null;
    this.state = "closed";
    this.stopped = true;
    this.everOpened = false;
    addEventListener("offline", () => this.drop());
    addEventListener("online", () => this.reconnectNow());
  }

  on(event, handler) {
    this.handlers.set(event, handler);
  }

  emit(event, data) {
    const handler = this.handlers.get(event);
    if (handler) handler(data);
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  start() {
    this.stopped = false;
    this.everOpened = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.lost(ws, 1000);
    if (ws) ws.close(1000);
  }

  open() {
    clearTimeout(this.retryTimer);
    if (this.stopped || this.ws) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.setState(this.everOpened ? "reconnecting" : "connecting");
    ws.onopen = () => ws.send(JSON.stringify({ event: "authenticate", data: { token: this.getToken() } }));
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (close) => this.lost(ws, close.code);
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.event === "connected") {
      const reconnected = this.everOpened;
      this.attempt = 0;
      this.everOpened = true;
      this.setState("open");
      this.beat();
      this.emit("open", { reconnected });
      return;
    }
    const waiter = frame.ref === undefined ? null : this.pending.get(frame.ref);
    if (waiter) {
      this.pending.delete(frame.ref);
      clearTimeout(waiter.timer);
      if (frame.event === "error") waiter.reject(new SocketError(frame.data.code, frame.data.message, frame.data.retryAfter ?? null));
      else waiter.resolve(frame.data);
      return;
    }
    this.emit(frame.event, frame.data);
  }

  // A frame answered by an ack (resolves with its data) or an error (rejects with its code).
  send(event, data) {
    if (this.state !== "open") return Promise.reject(new SocketError("disconnected", "Not connected."));
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new SocketError("timeout", "The server did not answer in time."));
      }, ACK_TIMEOUT_MS);
      this.pending.set(ref, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ event, data, ref }));
    });
  }

  // Fire and forget (typing): nothing to retry if it is lost.
  notify(event, data) {
    if (this.state === "open") this.ws.send(JSON.stringify({ event, data }));
  }

  // Swap a refreshed access token into the open socket so the server does not close it at expiry.
  reauthenticate(token) {
    this.send("authenticate", { token }).catch(() => {});
  }

  // A heartbeat that waits for its ack: a connection that died silently (sleep, Wi-Fi change)
  // is noticed within seconds instead of when the next message fails.
  beat() {
    clearTimeout(this.beatTimer);
    this.beatTimer = setTimeout(() => {
      if (this.state !== "open") return;
      this.send("join_personal_room", {}).then(
        () => this.beat(),
        (err) => err.code === "timeout" && this.drop(),
      );
    }, HEARTBEAT_MS);
  }

  // Give up on the current connection at once (the browser went offline, or the heartbeat failed).
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.lost(ws, 1006);
    ws.onclose = ws.onmessage = ws.onopen = null;
    ws.close();
  }

  lost(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearTimeout(this.beatTimer);
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new SocketError("disconnected", "The connection was lost."));
    }
    this.pending.clear();
    if (this.stopped) {
      this.setState("closed");
      return;
    }
    this.setState("reconnecting");
    if (code === CLOSE_UNAUTHENTICATED) {
      // The token expired or was refused: renew it first (failing that the session ends).
      this.renewToken().then(
        () => this.retry(),
        (err) => err.status === 0 && this.retry(),
      );
      return;
    }
    this.retry();
  }

  retry() {
    clearTimeout(this.retryTimer);
    if (this.stopped || !navigator.onLine) return; // "online" calls reconnectNow
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.open();
  }
}
