// DOM building and rendering. Anything that came from a user (names, message text) enters
// the page only as text (textContent and text nodes), never as HTML, so a message such
// as "<script>…" is shown as those characters and never parsed.

export const $ = (selector) => document.querySelector(selector);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

export function displayName(user) {
  return [user.first_name, user.last_name].filter(Boolean).join(" ") || user.username;
}

function clock(iso) {
  const when = new Date(iso);
  const sameDay = when.toDateString() === new Date().toDateString();
  const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return sameDay ? time : `${when.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

function presenceDot(isOnline) {
  const label = isOnline ? "online" : "offline";
  return el("span", { class: isOnline ? "dot online" : "dot", title: label }, el("span", { class: "visually-hidden", text: label }));
}

// --- Views -----------------------------------------------------------------------------------

export function showAuth(message = "") {
  $("#chat-view").hidden = true;
  $("#auth-view").hidden = false;
  $("#login-form").hidden = false;
  $("#register-form").hidden = true;
  $("#auth-error").textContent = message;
  $("#login-username").focus();
}

export function showChat(me) {
  $("#auth-view").hidden = true;
  $("#chat-view").hidden = false;
  $("#me-name").textContent = displayName(me);
  $("#me-username").textContent = `@${me.username}`;
}

const CONNECTION_TEXT = {
  connecting: "Connecting…",
  reconnecting: "Connection lost. Reconnecting…",
  closed: "",
  open: "",
};

export function showConnection(state) {
  const banner = $("#connection");
  banner.dataset.state = state;
  banner.textContent = CONNECTION_TEXT[state] ?? "";
  banner.hidden = !banner.textContent;
}

let noticeTimer = null;

export function notice(message) {
  const box = $("#notice");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    box.hidden = true;
  }, 6000);
}

// --- Sidebar ---------------------------------------------------------------------------------

// Rebuilding the list would drop keyboard focus; put it back on the same conversation.
function keepFocus(list, render) {
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  render();
  if (focused) list.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

export function renderConversations(conversations, { currentId, isOnline, onOpen }) {
  const list = $("#conversation-list");
  keepFocus(list, () =>
    list.replaceChildren(
      ...conversations.map((c) =>
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: "conversation-item",
              "data-key": `c${c.id}`,
              "data-conversation-id": c.id,
              "data-unread": c.unread,
              "aria-current": c.id === currentId ? "true" : null,
              onclick: () => onOpen(c),
            },
            presenceDot(isOnline(c.other.id)),
            el("span", { class: "name", text: displayName(c.other) }),
            el("span", { class: "preview", text: c.lastMessage || "" }),
            c.unread
              ? el("span", { class: "badge" }, String(c.unread), el("span", { class: "visually-hidden", text: " unread" }))
              : null,
          ),
        ),
      ),
    ),
  );
  $("#no-conversations").hidden = conversations.length > 0;
}

export function renderSearchResults(users, { isOnline, onPick }) {
  const list = $("#search-results");
  list.hidden = users === null;
  if (users === null) return;
  const items = users.map((user) =>
    el(
      "li",
      {},
      el(
        "button",
        { type: "button", class: "person", "data-key": `u${user.id}`, "data-username": user.username, onclick: () => onPick(user) },
        presenceDot(isOnline(user.id)),
        el("span", { class: "name", text: displayName(user) }),
        el("span", { class: "preview", text: `@${user.username}` }),
      ),
    ),
  );
  list.replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "Nobody by that name." })]));
}

// --- Conversation pane -------------------------------------------------------------------------

export function showConversation(other, isOnline) {
  $("#chat-view").classList.toggle("has-conversation", Boolean(other));
  $("#conversation").hidden = !other;
  $("#placeholder").hidden = Boolean(other);
  setTyping("");
  if (other) showPeer(other, isOnline);
}

export function showPeer(other, isOnline) {
  $("#peer-name").textContent = displayName(other);
  $("#peer-dot").replaceChildren(presenceDot(isOnline));
  $("#peer-status").textContent = isOnline ? "online" : `@${other.username}`;
}

export function setTyping(text) {
  $("#typing").textContent = text;
}

const keyOf = (m) => (m.id ? `m${m.id}` : `p${m.clientMessageId}`);

// The message list: nodes keyed by message id (or clientMessageId while sending), kept in
// order by a small reconciliation so merges after a reconnect never duplicate a message.
export class MessageList {
  constructor({ onDelete, onNearTop }) {
    this.scroller = $("#messages");
    this.list = $("#message-list");
    this.olderButton = $("#load-older");
    this.onDelete = onDelete;
    this.nodes = new Map();
    this.scroller.addEventListener("scroll", () => this.scroller.scrollTop < 80 && onNearTop());
    this.olderButton.addEventListener("click", onNearTop);
  }

  clear() {
    this.list.replaceChildren();
    this.nodes.clear();
    this.olderButton.hidden = true;
    $("#empty-conversation").hidden = true;
  }

  create(m, mine) {
    const receipt = mine ? el("span", { class: "receipt" }) : null;
    const remove = mine
      ? el("button", { type: "button", class: "delete", text: "Delete", "aria-label": "Delete message", onclick: () => this.onDelete(m.id) })
      : null;
    const node = el(
      "li",
      { class: mine ? "message mine" : "message theirs" },
      el("p", { class: "content", text: m.content }),
      el("footer", { class: "meta" }, el("time", { datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString(), text: clock(m.createdAt) }), receipt, remove),
    );
    return { node, receipt, remove };
  }

  update(entry, m) {
    if (m.id) entry.node.dataset.id = m.id;
    if (!entry.receipt) return;
    const status = m.state === "sending" ? "Sending…" : m.state === "failed" ? `Not sent: ${m.error}` : m.isRead ? "Read" : "Sent";
    entry.node.dataset.state = m.state || (m.isRead ? "read" : "sent");
    entry.receipt.textContent = status;
    entry.remove.hidden = !m.id;
  }

  // `keep`: "bottom" scrolls to the newest message; "older" keeps the view still while
  // history is prepended; otherwise follow new messages only if already at the bottom.
  render(items, meId, { hasMore = false, keep = null } = {}) {
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop - s.clientHeight;
    const top = s.scrollTop;
    const keys = new Set(items.map(keyOf));
    for (const [key, entry] of this.nodes) {
      if (!keys.has(key)) {
        entry.node.remove();
        this.nodes.delete(key);
      }
    }
    let cursor = this.list.firstChild;
    for (const m of items) {
      let entry = this.nodes.get(keyOf(m));
      if (!entry) {
        entry = this.create(m, m.senderId === meId);
        this.nodes.set(keyOf(m), entry);
      }
      this.update(entry, m);
      if (entry.node === cursor) cursor = cursor.nextSibling;
      else this.list.insertBefore(entry.node, cursor);
    }
    this.olderButton.hidden = !hasMore;
    $("#empty-conversation").hidden = items.length > 0;
    if (keep === "bottom" || (keep !== "older" && fromBottom < 80)) s.scrollTop = s.scrollHeight;
    else if (keep === "older") s.scrollTop = s.scrollHeight - s.clientHeight - fromBottom;
    else s.scrollTop = top;
  }
}
