// REST client for /api/auth and /api/chat: the envelope, and JWTs kept in sessionStorage.
//
// sessionStorage (not localStorage) keeps each tab's tokens to itself: refresh tokens rotate
// and are single-use, so two tabs sharing one would log each other out. The access token
// is refreshed a minute before it expires and, failing that, on the first 401.

const STORE_KEY = "chat.tokens";
const REFRESH_LEAD_MS = 60_000;

export class ApiError extends Error {
  constructor(status, message, errors = null) {
    super(message);
    this.status = status;
    this.errors = errors;
  }

  // "message" plus the field errors it does not already say, for showing to a person: a 400's
  // message is its first problem, written `field: problem` as here.
  describe() {
    const lines = [this.message];
    for (const [name, list] of Object.entries(this.errors || {})) {
      for (const problem of [].concat(list)) {
        const line = name === "non_field_errors" ? problem : `${name}: ${problem}`;
        if (!lines.includes(line)) lines.push(line);
      }
    }
    return lines.join(" ");
  }
}

// The token's claims (exp, iat), or null; checking the signature is the server's business.
function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")));
  } catch {
    return null;
  }
}

export class Api {
  constructor({ onTokens = () => {}, onSessionEnded = () => {} } = {}) {
    this.onTokens = onTokens;
    this.onSessionEnded = onSessionEnded;
    this.refreshing = null;
    this.timer = null;
  }

  // Read from storage every time, so storage is the one source of truth.
  get tokens() {
    try {
      return JSON.parse(sessionStorage.getItem(STORE_KEY)) || null;
    } catch {
      return null;
    }
  }

  get access() {
    return this.tokens?.access ?? null;
  }

  get loggedIn() {
    return Boolean(this.tokens?.refresh);
  }

  save({ access, refresh }) {
    const next = { access, refresh: refresh || this.tokens?.refresh };
    sessionStorage.setItem(STORE_KEY, JSON.stringify(next));
    this.schedule();
    this.onTokens(access);
  }

  clear() {
    clearTimeout(this.timer);
    sessionStorage.removeItem(STORE_KEY);
  }

  // Refresh shortly before the access token expires (at once if it already has): a minute
  // early, or a fifth of its lifetime early for tokens that live less than five minutes.
  schedule() {
    clearTimeout(this.timer);
    const claims = claimsOf(this.access || "");
    if (typeof claims?.exp !== "number") return;
    const lifetime = typeof claims.iat === "number" ? (claims.exp - claims.iat) * 1000 : Infinity;
    const lead = Math.min(REFRESH_LEAD_MS, lifetime / 5);
    const delay = Math.min(Math.max(0, claims.exp * 1000 - Date.now() - lead), 2 ** 31 - 1);
    this.timer = setTimeout(() => this.refresh().catch(() => {}), delay);
  }

  // One refresh at a time: a second parallel call would spend the rotated token twice.
  refresh() {
    if (!this.refreshing) {
      const refresh = this.tokens?.refresh;
      this.refreshing = this.request("POST", "/api/auth/token/refresh", { refresh }, { auth: false })
        .then((data) => {
          this.save(data);
          return data.access;
        })
        .catch((err) => {
          if (err.status === 400 || err.status === 401) this.end("Your session has expired. Please log in again.");
          throw err;
        })
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }

  end(message) {
    this.clear();
    this.onSessionEnded(message);
  }

  async request(method, path, body, { auth = true, retried = false } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && this.access) headers.Authorization = `Bearer ${this.access}`;
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, "The server cannot be reached. Check your connection.");
    }
    if (response.status === 401 && auth) {
      if (!retried && this.tokens?.refresh) {
        await this.refresh();
        return this.request(method, path, body, { auth, retried: true });
      }
      this.end("Your session has ended. Please log in again.");
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (!response.ok || !payload || payload.success === false) {
      throw new ApiError(response.status, payload?.message || `Request failed (${response.status}).`, payload?.errors);
    }
    return payload.data;
  }

  // --- Endpoints ---------------------------------------------------------------------------

  async login(username, password) {
    this.save(await this.request("POST", "/api/auth/token", { username, password }, { auth: false }));
  }

  async register(fields) {
    const data = await this.request("POST", "/api/auth/register", fields, { auth: false });
    this.save(data);
    return data.user;
  }

  me() {
    return this.request("GET", "/api/auth/me");
  }

  users(search) {
    return this.request("GET", `/api/auth/users?${new URLSearchParams({ search, limit: "10" })}`);
  }

  conversations() {
    return this.request("GET", "/api/chat/conversations?limit=100");
  }

  // `before` or `after` is a message id (a string, since ids may exceed 2^53); oldest first.
  messages(conversationId, cursor, limit) {
    const query = new URLSearchParams({ ...cursor, limit: String(limit) });
    return this.request("GET", `/api/chat/conversations/${conversationId}/messages?${query}`);
  }

  deleteMessage(messageId) {
    return this.request("DELETE", `/api/chat/messages/${messageId}`);
  }

  // --- Conversation state and safety (issue 15) -------------------------------------------------

  archivedConversations() {
    return this.request("GET", "/api/chat/conversations?limit=100&archived=true");
  }

  blocks() {
    return this.request("GET", "/api/chat/blocks");
  }

  setBlocked(userId, blocked) {
    return this.request(blocked ? "PUT" : "DELETE", `/api/chat/blocks/${userId}`);
  }

  // `until`: an ISO time, or null for "until I unmute".
  mute(conversationId, until) {
    return this.request("PUT", `/api/chat/conversations/${conversationId}/mute`, { until });
  }

  unmute(conversationId) {
    return this.request("DELETE", `/api/chat/conversations/${conversationId}/mute`);
  }

  setArchived(conversationId, archived) {
    return this.request(archived ? "PUT" : "DELETE", `/api/chat/conversations/${conversationId}/archive`);
  }

  markUnread(conversationId, fromMessageId) {
    return this.request("PUT", `/api/chat/conversations/${conversationId}/unread`, { fromMessageId });
  }

  report(messageId, reason, note) {
    return this.request("POST", `/api/chat/messages/${messageId}/report`, note ? { reason, note } : { reason });
  }

  // --- Attachments (issue 16) -------------------------------------------------------------------

  // A multipart upload through XMLHttpRequest, the one browser API that reports upload
  // progress. `onProgress(loaded, total)`; `abort()` stops it. Resolves with the attachment.
  upload(file, onProgress) {
    let xhr = null;
    let aborted = false;
    const attempt = (retried) =>
      new Promise((resolve, reject) => {
        xhr = new XMLHttpRequest();
        xhr.open("POST", "/api/chat/attachments");
        xhr.setRequestHeader("Accept", "application/json");
        if (this.access) xhr.setRequestHeader("Authorization", `Bearer ${this.access}`);
        xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded, event.total);
        xhr.onerror = () => reject(new ApiError(0, "The server cannot be reached. Check your connection."));
        xhr.onabort = () => reject(new ApiError(0, "Upload cancelled."));
        xhr.onload = () => {
          let payload = null;
          try {
            payload = JSON.parse(xhr.responseText);
          } catch {
            payload = null;
          }
          if (xhr.status === 401 && !retried && this.tokens?.refresh) {
            resolve(this.refresh().then(() => (aborted ? Promise.reject(new ApiError(0, "Upload cancelled.")) : attempt(true))));
            return;
          }
          if (xhr.status === 401) this.end("Your session has ended. Please log in again.");
          if (xhr.status >= 400 || !payload || payload.success === false) {
            const message = payload?.message || (xhr.status === 413 ? "The file is too large." : `Upload failed (${xhr.status}).`);
            reject(new ApiError(xhr.status, message, payload?.errors));
            return;
          }
          resolve(payload.data);
        };
        const form = new FormData();
        form.append("file", file, file.name);
        xhr.send(form);
      });
    return {
      promise: attempt(false),
      abort: () => {
        aborted = true;
        xhr?.abort();
      },
    };
  }

  // --- Message actions (issue 14) --------------------------------------------------------------

  // Over all my conversations, newest first; `before` (a message id) pages further back.
  searchMessages(q, before = null) {
    const query = new URLSearchParams({ q, limit: "20" });
    if (before) query.set("before", before);
    return this.request("GET", `/api/chat/search?${query}`);
  }
}
