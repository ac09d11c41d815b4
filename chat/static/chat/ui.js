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

const DAY_MS = 86_400_000;

// Calendar days between a time and now, in the viewer's own time zone (0 today, 1 yesterday).
function daysAgo(when) {
  const start = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  return Math.round((start(new Date()) - start(when)) / DAY_MS);
}

const hhmm = (when) => when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

function shortDate(when) {
  const sameYear = when.getFullYear() === new Date().getFullYear();
  return when.toLocaleDateString([], { month: "short", day: "numeric", year: sameYear ? undefined : "numeric" });
}

function clock(iso) {
  const when = new Date(iso);
  return daysAgo(when) === 0 ? hhmm(when) : `${shortDate(when)} ${hhmm(when)}`;
}

// The conversation list's time: the clock today, then "Yesterday", a weekday, a date.
export function listTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const ago = daysAgo(when);
  if (ago <= 0) return hhmm(when);
  if (ago === 1) return "Yesterday";
  if (ago < 7) return when.toLocaleDateString([], { weekday: "short" });
  return shortDate(when);
}

// A date separator's label, and the key that says two messages fall on the same local day.
export const dayKey = (iso) => new Date(iso).toDateString();

export function dayLabel(iso) {
  const when = new Date(iso);
  const ago = daysAgo(when);
  if (ago <= 0) return "Today";
  if (ago === 1) return "Yesterday";
  const sameYear = when.getFullYear() === new Date().getFullYear();
  return when.toLocaleDateString([], { weekday: "long", month: "long", day: "numeric", year: sameYear ? undefined : "numeric" });
}

export function lastSeen(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const ago = daysAgo(when);
  if (ago <= 0) return `last seen today at ${hhmm(when)}`;
  if (ago === 1) return `last seen yesterday at ${hhmm(when)}`;
  return `last seen ${shortDate(when)}`;
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

export function renderConversations(conversations, { currentId, isOnline, onOpen, onMarkUnread, archivedView = false }) {
  const list = $("#conversation-list");
  keepFocus(list, () =>
    list.replaceChildren(
      ...conversations.map((c) =>
        el(
          "li",
          { class: "conversation-row" },
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
            c.lastMessageAt
              ? el("time", { class: "when", datetime: c.lastMessageAt, title: new Date(c.lastMessageAt).toLocaleString(), text: listTime(c.lastMessageAt) })
              : null,
            el("span", { class: "preview", text: c.lastMessage || "" }),
            c.unread
              ? el("span", { class: "badge" }, String(c.unread), el("span", { class: "visually-hidden", text: " unread" }))
              : c.muted
                ? el("span", { class: "muted-mark", title: "Muted", text: "🔕" }, el("span", { class: "visually-hidden", text: " muted" }))
                : null,
          ),
          !c.unread && c.lastMessage
            ? el("button", {
                type: "button",
                class: "mark-unread",
                "data-key": `u${c.id}`,
                "aria-label": `Mark the conversation with ${displayName(c.other)} as unread`,
                title: "Mark as unread",
                text: "Mark unread",
                onclick: () => onMarkUnread(c),
              })
            : null,
        ),
      ),
    ),
  );
  $("#list-title").hidden = !archivedView;
  $("#no-conversations").hidden = archivedView || conversations.length > 0;
  $("#no-archived").hidden = !archivedView || conversations.length > 0;
  const toggle = $("#show-archived");
  toggle.setAttribute("aria-pressed", String(archivedView));
  toggle.textContent = archivedView ? "Back to chats" : "Archived";
}

// The header's mute / archive / block controls and what blocking means for the composer.
// `blockedByMe`: I block them (I can unblock); `blocked` alone: they block me.
// Shown again on every list reload and block change: an open mute menu closes only when it hides
// or another conversation opens, not while someone is choosing from it.
export function showConversationState({ conversationId, hasConversation, blocked, blockedByMe, muted, mutedUntil, archived }) {
  const menu = $("#mute-menu");
  menu.hidden = muted || !hasConversation;
  if (menu.hidden || menu.dataset.conversation !== String(conversationId)) menu.open = false;
  menu.dataset.conversation = String(conversationId);
  $("#unmute-button").hidden = !muted || !hasConversation;
  $("#archive-button").hidden = !hasConversation;
  $("#unmute-button").title = mutedUntil ? `Muted until ${new Date(mutedUntil).toLocaleString()}` : "Muted until you unmute";
  $("#archive-button").textContent = archived ? "Unarchive" : "Archive";
  $("#block-button").textContent = blockedByMe ? "Unblock" : "Block";
  const banner = $("#blocked-banner");
  banner.hidden = !blocked;
  banner.textContent = blockedByMe ? "You blocked this person. Unblock them to send messages." : "You cannot message this person.";
  $("#composer-input").disabled = blocked;
  $("#composer button[type=submit]").disabled = blocked;
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

export function showConversation(other, presence) {
  $("#chat-view").classList.toggle("has-conversation", Boolean(other));
  $("#conversation").hidden = !other;
  $("#placeholder").hidden = Boolean(other);
  setTyping("");
  if (other) showPeer(other, presence);
}

// `presence`: {isOnline, lastSeenAt}; offline people show when they were last seen, if known.
export function showPeer(other, { isOnline, lastSeenAt }) {
  $("#peer-name").textContent = displayName(other);
  $("#peer-dot").replaceChildren(presenceDot(isOnline));
  $("#peer-status").textContent = isOnline ? "online" : lastSeen(lastSeenAt) || `@${other.username}`;
}

export function setTyping(text) {
  $("#typing").textContent = text;
}

// The composer grows with its text up to its CSS max-height, then scrolls. Set through the
// CSSOM (element.style), which the page's CSP allows, unlike a style attribute in markup.
export function fitComposer(textarea) {
  textarea.style.height = "auto";
  const borders = textarea.offsetHeight - textarea.clientHeight;
  textarea.style.height = `${textarea.scrollHeight + borders}px`;
}

// --- Attachments -----------------------------------------------------------------------------------

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let size = bytes / 1024;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size < 10 ? size.toFixed(1) : Math.round(size)} ${units[unit]}`;
}

// Links only ever come from the API; even so, only http(s) ones (same site or the store's) are used.
function safeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

export function openViewer(attachment) {
  const url = safeUrl(attachment.url);
  if (!url) return;
  $("#viewer-name").textContent = attachment.name;
  $("#viewer-open").href = url;
  const image = $("#viewer-image");
  image.src = url;
  image.alt = attachment.name;
  $("#viewer").showModal();
}

// An image shows its thumbnail, which opens the full size; any other file is a chip with its
// name and size that downloads it. While sending (no link yet) both are a plain chip.
function attachmentView(a) {
  const url = safeUrl(a.url);
  const thumb = safeUrl(a.thumbnail_url);
  if (url && thumb && a.content_type.startsWith("image/")) {
    return el(
      "button",
      { type: "button", class: "thumb", "data-name": a.name, "aria-label": `Open ${a.name} full size`, onclick: () => openViewer(a) },
      el("img", { src: thumb, alt: a.name, width: a.thumb_width, height: a.thumb_height, loading: "lazy" }),
    );
  }
  return el(
    url ? "a" : "span",
    { class: "file-chip", "data-name": a.name, href: url, download: url ? a.name : null, target: url ? "_blank" : null, rel: url ? "noopener" : null },
    el("span", { class: "file-icon", "aria-hidden": "true", text: a.content_type === "application/pdf" ? "PDF" : "FILE" }),
    el("span", { class: "file-name", text: a.name }),
    el("span", { class: "file-size", text: formatSize(a.size) }),
  );
}

// The files picked for the next message: each with its progress bar until uploaded.
export function renderUploads(uploads, { onRemove }) {
  const tray = $("#upload-tray");
  tray.hidden = uploads.length === 0;
  tray.replaceChildren(
    ...uploads.map((u) =>
      el(
        "li",
        { class: "upload", "data-state": u.state, "data-name": u.file.name },
        el("span", { class: "file-name", text: u.file.name }),
        el("span", { class: "file-size", text: formatSize(u.file.size) }),
        u.state === "uploading"
          ? el("progress", { max: u.total || u.file.size || 1, value: u.loaded, "aria-label": `Uploading ${u.file.name}` })
          : null,
        u.state === "failed" ? el("span", { class: "upload-error", text: u.error }) : null,
        u.state === "done" ? el("span", { class: "upload-done", text: "Ready" }) : null,
        el("button", { type: "button", class: "link remove-upload", "aria-label": `Remove ${u.file.name}`, text: "Remove", onclick: () => onRemove(u) }),
      ),
    ),
  );
}

export function showDropHint(shown) {
  $("#drop-hint").hidden = !shown;
  $("#conversation").classList.toggle("dropping", shown);
}

const keyOf = (m) => (m.id ? `m${m.id}` : `p${m.clientMessageId}`);

function button(text, attrs = {}) {
  return el("button", { type: "button", class: "action", text, ...attrs });
}

// The reaction picker's choices; any single emoji the server accepts could be shown, these
// are the ones offered.
export const REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

// The message list: nodes keyed by message id (or clientMessageId while sending), kept in
// order by a small reconciliation so merges after a reconnect never duplicate a message.
// A separator (keyed by its local day) goes before the first message of each day.
//
// `actions` are the app's: onDelete, onRetry, onDiscard, onReply, onEdit, onReact, onQuote;
// `canEdit(m)` says whether the edit window is still open; `nameOf(userId)` names a sender.
export class MessageList {
  constructor({ onNearTop, canEdit, nameOf, ...actions }) {
    this.scroller = $("#messages");
    this.list = $("#message-list");
    this.olderButton = $("#load-older");
    this.on = actions;
    this.canEdit = canEdit;
    this.nameOf = nameOf;
    this.meId = null;
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

  separator(day, iso) {
    const label = el("span", { text: dayLabel(iso) });
    return { node: el("li", { class: "day", "data-day": day, role: "separator" }, label), label };
  }

  create(m, mine) {
    const entry = { m, mine };
    const act = (name) => () => this.on[name](entry.m);
    entry.quote = el("button", { type: "button", class: "reply-quote", hidden: true, onclick: () => !entry.m.replyTo?.deleted && this.on.onQuote(entry.m.replyToId) });
    entry.content = el("p", { class: "content", text: m.content });
    entry.files = el("div", { class: "attachments", hidden: true });
    entry.reactions = el("div", { class: "reactions", role: "group", "aria-label": "Reactions", hidden: true });
    entry.time = el("time", { datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString(), text: clock(m.createdAt) });
    entry.edited = el("span", { class: "edited", text: "edited", hidden: true });
    entry.receipt = mine ? el("span", { class: "receipt" }) : null;
    entry.retry = mine ? button("Retry", { class: "action retry", onclick: act("onRetry") }) : null;
    entry.discard = mine ? button("Discard", { class: "action discard", onclick: act("onDiscard") }) : null;
    entry.picker = el(
      "div",
      { class: "picker", role: "group", "aria-label": "Pick a reaction", hidden: true },
      ...REACTIONS.map((emoji) =>
        el("button", {
          type: "button",
          class: "pick",
          "data-emoji": emoji,
          text: emoji,
          "aria-label": `React with ${emoji}`,
          onclick: () => {
            entry.picker.hidden = true;
            this.on.onReact(entry.m, emoji);
          },
        }),
      ),
    );
    entry.edit = mine ? button("Edit", { class: "action edit", "aria-label": "Edit message", onclick: act("onEdit") }) : null;
    entry.remove = mine ? button("Delete", { class: "action delete", "aria-label": "Delete message", onclick: () => this.askDelete(entry) }) : null;
    entry.report = mine ? null : button("Report", { class: "action report", "aria-label": "Report this message", onclick: () => this.askReport(entry) });
    entry.toolbar = el(
      "div",
      { class: "actions", role: "toolbar", "aria-label": "Message actions" },
      button("React", { class: "action react", "aria-label": "Add a reaction", "aria-expanded": "false", onclick: () => this.togglePicker(entry) }),
      button("Reply", { class: "action reply", "aria-label": "Reply to this message", onclick: act("onReply") }),
      entry.edit,
      entry.remove,
      entry.report,
    );
    entry.reportForm = mine ? null : this.reportForm(entry);
    entry.confirm = mine
      ? el(
          "span",
          { class: "confirm", role: "group", "aria-label": "Delete this message?", hidden: true },
          el("span", { text: "Delete for everyone?" }),
          button("Delete", { class: "action confirm-delete", onclick: () => this.on.onDelete(entry.m.id) }),
          button("Cancel", { class: "action cancel-delete", onclick: () => this.cancelDelete(entry) }),
        )
      : null;
    entry.node = el(
      "li",
      {
        class: mine ? "message mine" : "message theirs",
        onkeydown: (event) => {
          if (event.key !== "Escape") return;
          this.cancelDelete(entry);
          this.togglePicker(entry, false);
        },
      },
      entry.quote,
      entry.files,
      entry.content,
      entry.reactions,
      el("footer", { class: "meta" }, entry.time, entry.edited, entry.receipt, entry.retry, entry.discard),
      entry.toolbar,
      entry.picker,
      entry.confirm,
      entry.reportForm,
    );
    return entry;
  }

  // Reporting asks why, in place: a reason (the API's three) and an optional note.
  reportForm(entry) {
    const reason = el(
      "select",
      { class: "report-reason", "aria-label": "Reason" },
      el("option", { value: "spam", text: "Spam" }),
      el("option", { value: "abuse", text: "Abuse or harassment" }),
      el("option", { value: "other", text: "Something else" }),
    );
    const note = el("input", { class: "report-note", maxlength: "1000", placeholder: "Anything to add? (optional)", "aria-label": "Note" });
    const form = el(
      "form",
      {
        class: "report-form",
        hidden: true,
        onsubmit: async (event) => {
          event.preventDefault();
          if (await this.on.onReport(entry.m, reason.value, note.value.trim())) {
            form.hidden = true;
            form.reset();
            entry.node.dataset.reported = "true";
          }
        },
      },
      el("strong", { text: "Report this message to the moderators" }),
      reason,
      note,
      el("div", { class: "report-buttons" }, el("button", { type: "submit", class: "action send-report", text: "Send report" }), button("Cancel", { class: "action", onclick: () => (form.hidden = true) })),
    );
    return form;
  }

  askReport(entry) {
    entry.reportForm.hidden = false;
    entry.reportForm.querySelector("select").focus();
  }

  togglePicker(entry, open = entry.picker.hidden) {
    entry.picker.hidden = !open;
    entry.toolbar.querySelector(".react").setAttribute("aria-expanded", String(open));
    if (open) entry.picker.querySelector(".pick").focus();
  }

  // Deleting asks first, in place: the confirmation takes the focus, Escape or Cancel backs out.
  askDelete(entry) {
    entry.confirm.hidden = false;
    entry.remove.hidden = true;
    entry.confirm.querySelector(".cancel-delete").focus();
  }

  cancelDelete(entry) {
    if (!entry.confirm || entry.confirm.hidden) return;
    entry.confirm.hidden = true;
    entry.remove.hidden = !entry.m.id;
    entry.remove.focus();
  }

  renderQuote(entry, m) {
    const parent = m.replyTo;
    entry.quote.hidden = !parent;
    if (!parent) return;
    entry.quote.dataset.parentId = parent.id;
    entry.quote.classList.toggle("deleted", Boolean(parent.deleted));
    entry.quote.replaceChildren(
      el("span", { class: "quote-name", text: this.nameOf(parent.senderId) }),
      el("span", { class: "quote-text", text: parent.deleted ? "Deleted message" : parent.content }),
    );
    entry.quote.setAttribute("aria-label", parent.deleted ? "Reply to a deleted message" : "Show the message this replies to");
  }

  // Links are signed and expire, so each render may bring new ones: rebuilt only when they change.
  renderFiles(entry, m) {
    const files = m.attachments || [];
    const signature = JSON.stringify(files.map((a) => [a.id, a.url, a.thumbnail_url]));
    if (entry.filesSignature === signature) return;
    entry.filesSignature = signature;
    entry.files.hidden = files.length === 0;
    entry.files.replaceChildren(...files.map(attachmentView));
  }

  renderReactions(entry, m) {
    const reactions = m.reactions || [];
    entry.reactions.hidden = reactions.length === 0;
    entry.reactions.replaceChildren(
      ...reactions.map((r) => {
        const mineToo = r.userIds.includes(this.meId);
        return el(
          "button",
          {
            type: "button",
            class: "reaction",
            "data-emoji": r.emoji,
            "aria-pressed": String(mineToo),
            title: mineToo ? "Remove your reaction" : "React with this too",
            onclick: () => this.on.onReact(entry.m, r.emoji),
          },
          el("span", { class: "emoji", text: r.emoji }),
          el("span", { class: "count", text: String(r.count) }),
        );
      }),
    );
  }

  update(entry, m) {
    entry.m = m;
    if (m.id) entry.node.dataset.id = m.id;
    if (entry.content.textContent !== m.content) entry.content.textContent = m.content;
    entry.content.hidden = !m.content;
    entry.edited.hidden = !m.editedAt;
    if (m.editedAt) entry.edited.title = `Edited ${new Date(m.editedAt).toLocaleString()}`;
    entry.toolbar.hidden = !m.id;
    this.renderQuote(entry, m);
    this.renderReactions(entry, m);
    this.renderFiles(entry, m);
    if (!entry.receipt) return;
    const failed = m.state === "failed";
    const receipt = m.state || (m.isRead ? "read" : m.deliveredAt ? "delivered" : "sent");
    entry.node.dataset.state = receipt;
    entry.receipt.dataset.receipt = receipt;
    if (m.state) {
      entry.receipt.textContent = failed ? `Not sent: ${m.error}` : "Sending…";
    } else {
      // One tick sent, two delivered, two coloured read; the word is there for screen readers.
      const word = { sent: "Sent", delivered: "Delivered", read: "Read" }[receipt];
      entry.receipt.title = word;
      entry.receipt.replaceChildren(el("span", { class: "ticks", "aria-hidden": "true", text: receipt === "sent" ? "✓" : "✓✓" }), el("span", { class: "visually-hidden", text: word }));
    }
    entry.remove.hidden = !m.id || !entry.confirm.hidden;
    entry.edit.hidden = !m.id || !this.canEdit(m);
    entry.retry.hidden = entry.discard.hidden = !failed;
    // A rate-limited send can be retried once the server's Retry-After has passed.
    entry.retry.disabled = failed && m.retryAt > Date.now();
  }

  // Scroll a message into view and mark it for a moment (a reply's parent, a search hit).
  reveal(id) {
    const entry = this.nodes.get(`m${id}`);
    if (!entry) return false;
    entry.node.scrollIntoView({ block: "center" });
    entry.node.classList.remove("flash");
    void entry.node.offsetWidth; // restart the animation when the same message is revealed twice
    entry.node.classList.add("flash");
    entry.node.setAttribute("tabindex", "-1");
    entry.node.focus({ preventScroll: true });
    return true;
  }

  // `keep`: "bottom" scrolls to the newest message; "older" keeps the view still while
  // history is prepended; otherwise follow new messages only if already at the bottom.
  render(items, meId, { hasMore = false, keep = null } = {}) {
    this.meId = meId;
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop - s.clientHeight;
    const top = s.scrollTop;
    const rows = [];
    let day = null;
    for (const m of items) {
      const today = dayKey(m.createdAt);
      if (today !== day) rows.push({ key: `d${today}`, day: today, iso: m.createdAt });
      day = today;
      rows.push({ key: keyOf(m), m });
    }
    const keys = new Set(rows.map((row) => row.key));
    for (const [key, entry] of this.nodes) {
      if (!keys.has(key)) {
        entry.node.remove();
        this.nodes.delete(key);
      }
    }
    let cursor = this.list.firstChild;
    for (const row of rows) {
      let entry = this.nodes.get(row.key);
      if (!entry) {
        entry = row.m ? this.create(row.m, row.m.senderId === meId) : this.separator(row.day, row.iso);
        this.nodes.set(row.key, entry);
      }
      if (row.m) this.update(entry, row.m);
      else entry.label.textContent = dayLabel(row.iso); // "Today" becomes "Yesterday" at midnight
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

// --- Composer context: replying to, or editing, a message -----------------------------------------

export function showComposerContext(context, nameOf) {
  const bar = $("#composer-context");
  bar.hidden = !context;
  if (!context) return;
  const { kind, message } = context;
  bar.dataset.kind = kind;
  $("#composer-context-label").textContent = kind === "edit" ? "Editing your message" : `Replying to ${nameOf(message.senderId)}`;
  $("#composer-context-text").textContent = message.content;
}

// --- Search over all my conversations ----------------------------------------------------------------

// `text` with each case-insensitive occurrence of `term` in a <mark>, built from text nodes.
function highlighted(text, term) {
  const parts = [];
  const lower = text.toLowerCase();
  const needle = term.toLowerCase();
  let at = 0;
  for (let hit = lower.indexOf(needle); needle && hit !== -1 && lower.length === text.length; hit = lower.indexOf(needle, at)) {
    parts.push(text.slice(at, hit), el("mark", { text: text.slice(hit, hit + needle.length) }));
    at = hit + needle.length;
  }
  parts.push(text.slice(at));
  return parts.filter((part) => part !== "");
}

export function renderMessageResults(results, { term, hasMore, nameOf, onPick, onMore }) {
  const section = $("#message-results");
  section.hidden = results === null;
  if (results === null) return;
  const list = $("#message-result-list");
  const items = results.map((m) =>
    el(
      "li",
      {},
      el(
        "button",
        { type: "button", class: "message-hit", "data-message-id": m.id, "data-conversation-id": m.conversationId, onclick: () => onPick(m) },
        el("span", { class: "name", text: nameOf(m) }),
        el("time", { class: "when", datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString(), text: listTime(m.createdAt) }),
        el("span", { class: "preview" }, ...highlighted(m.content, term)),
      ),
    ),
  );
  list.replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: "No messages found." })]));
  const more = $("#more-results");
  more.hidden = !hasMore;
  more.onclick = onMore;
}
