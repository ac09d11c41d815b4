// The chat client's state and wiring: REST for history and lists, the socket for live events.
//
// Messages of the open conversation live in one Map keyed by id, so history pages, live
// events, acks and the catch-up after a reconnect all merge without duplicates. Sends go
// through an outbox with a clientMessageId: a send cut off by a drop is sent again after
// reconnecting, and the server's idempotency makes sure it is stored once. A send the server
// refused (rate limited, or not allowed) stays on screen marked "Not sent" with Retry and
// Discard, in whichever conversation it belongs to.
//
// The open conversation is in the URL (#/c/<id>), so a reload, a bookmark or the browser's
// Back button lands on the same conversation.

import { Api } from "./api.js";
import { ChatSocket } from "./socket.js";
import * as ui from "./ui.js";

const NEWEST = "9223372036854775807"; // the largest message id: `before` it gives the newest page
const PAGE_SIZE = 30;
const TYPING_IDLE_MS = 1500; // stop_typing after this pause
const TYPING_RENEW_MS = 3000; // repeat `typing` while typing goes on
const TYPING_SHOWN_MS = 6000; // hide someone's "is typing" if no renewal came
const MAX_ATTACHMENTS = 10; // per message, as the API allows
const THUMB_MAX = 320; // the server's thumbnails fit in this square
const REVEAL_MAX_PAGES = 20; // how far back a reply's parent or a search hit is looked for

// The server's MESSAGE_EDIT_WINDOW_SECONDS, handed over by the page: seconds, "unlimited" or "off".
const EDIT_WINDOW = (() => {
  const value = document.querySelector('meta[name="chat-edit-window"]')?.content ?? "900";
  if (value === "unlimited") return Infinity;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : 900;
})();

const state = {
  me: null,
  conversations: new Map(), // id → {id, other, lastMessage, lastMessageAt, unread}
  online: new Map(), // user id → bool, from REST summaries and presence events
  lastSeen: new Map(), // user id → ISO time or null, from the same
  pending: new Map(), // clientMessageId → a send not yet stored (sending, or failed)
  archived: new Map(), // id → conversation, the "Archived" view's list
  view: "chats", // or "archived"
  blocked: new Set(), // ids of the people I block
  open: null, // {id, other, messages: Map, hasMore, maxSeq, loadingOlder}
};
const outbox = [];
let uploads = []; // {file, state: "uploading" | "done" | "failed", loaded, total, attachment, abort, error}
let composing = null; // {kind: "reply" | "edit", message}: what the composer's next Enter does
const typing = { active: false, sentAt: 0, conversationId: null, idleTimer: null, shownTimer: null };

const api = new Api({
  onTokens: (access) => socket.reauthenticate(access),
  onSessionEnded: (message) => leave(message),
});
const socket = new ChatSocket({
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/chat/`,
  getToken: () => api.access,
  renewToken: () => api.refresh(),
  onState: ui.showConnection,
});
const messageList = new ui.MessageList({
  onDelete: deleteMessage,
  onRetry: retrySend,
  onDiscard: discardSend,
  onReply: (m) => compose({ kind: "reply", message: m }),
  onEdit: (m) => compose({ kind: "edit", message: m }),
  onReact: toggleReaction,
  onQuote: (id) => showMessage(state.open?.id, id),
  onReport: reportMessage,
  onNearTop: loadOlder,
  canEdit: (m) => !m.deleted && Date.now() - Date.parse(m.createdAt) < EDIT_WINDOW * 1000,
  nameOf: (userId) => nameOf(userId),
});

// --- Normalising REST (snake_case) and socket (camelCase) shapes --------------------------------

// A reply's parent, from REST (`sender_id`) or the socket (`senderId`).
function toParent(raw) {
  if (!raw) return null;
  return { id: raw.id, senderId: raw.senderId ?? raw.sender_id, content: raw.content, deleted: Boolean(raw.deleted) };
}

// One attachment, REST or socket spelling, with the size its thumbnail is drawn at.
function toAttachment(raw) {
  const width = raw.width ?? null;
  const height = raw.height ?? null;
  const scale = width && height ? Math.min(1, THUMB_MAX / Math.max(width, height)) : null;
  return {
    id: raw.id,
    name: raw.name,
    content_type: raw.content_type ?? raw.contentType ?? "application/octet-stream",
    size: raw.size,
    width,
    height,
    url: raw.url,
    thumbnail_url: raw.thumbnail_url ?? raw.thumbnailUrl ?? null,
    thumb_width: scale ? Math.round(width * scale) : null,
    thumb_height: scale ? Math.round(height * scale) : null,
  };
}

function toMessage(raw) {
  return {
    id: raw.id,
    seq: raw.seq,
    senderId: raw.senderId ?? raw.sender_id,
    receiverId: raw.receiverId ?? raw.receiver_id,
    conversationId: raw.conversationId ?? raw.conversation_id,
    content: raw.content,
    isRead: raw.isRead ?? raw.is_read,
    deliveredAt: raw.deliveredAt ?? raw.delivered_at ?? null,
    createdAt: raw.createdAt,
    clientMessageId: raw.clientMessageId ?? raw.client_message_id ?? null,
    editedAt: raw.editedAt ?? raw.edited_at ?? null,
    replyToId: raw.replyToId ?? raw.reply_to_id ?? null,
    replyTo: toParent(raw.replyTo ?? raw.reply_to),
    reactions: raw.reactions ?? [],
    attachments: (raw.attachments ?? []).map(toAttachment),
  };
}

function toConversation(raw) {
  const other = raw.participant_1_id === state.me.id ? raw.participant2 : raw.participant1;
  notePresence(other);
  return {
    id: raw.id,
    other,
    lastMessage: raw.last_message,
    lastMessageAt: raw.last_message_at,
    unread: raw.unread_count,
    blocked: Boolean(raw.blocked),
    muted: Boolean(raw.muted), // muted with `mutedUntil` null: until unmuted
    mutedUntil: raw.muted_until ?? null,
    archived: Boolean(raw.archived),
  };
}

const conversationById = (id) => state.conversations.get(id) || state.archived.get(id) || null;

const isOnline = (userId) => Boolean(state.online.get(userId));

function nameOf(userId) {
  if (userId === state.me?.id) return "You";
  for (const c of state.conversations.values()) if (c.other.id === userId) return ui.displayName(c.other);
  return state.open?.other.id === userId ? ui.displayName(state.open.other) : "Someone";
}
const presenceOf = (userId) => ({ isOnline: isOnline(userId), lastSeenAt: state.lastSeen.get(userId) ?? null });

function notePresence(user) {
  state.online.set(user.id, user.is_online);
  state.lastSeen.set(user.id, user.last_seen_at);
}

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs HTTPS; this does not
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- Conversation list -----------------------------------------------------------------------

// Both lists (the default one and "Archived") and whom I block, in one go. An event that moved the
// list while the lists were in flight may be missing from them: then they are fetched once more.
let listEdits = 0;
async function loadConversations() {
  const before = listEdits;
  const [page, archived, blocks] = await Promise.all([api.conversations(), api.archivedConversations(), api.blocks()]);
  if (listEdits !== before) reloadConversationsSoon();
  state.conversations = new Map(page.conversations.map((c) => [c.id, toConversation(c)]));
  state.archived = new Map(archived.conversations.map((c) => [c.id, toConversation(c)]));
  state.blocked = new Set(blocks.users.map((u) => u.id));
  renderSidebar();
  if (state.open) {
    const fresh = conversationById(state.open.id);
    if (fresh) state.open.other = fresh.other;
    showState();
  }
}

let reloadTimer = null;
function reloadConversationsSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => loadConversations().catch(() => {}), 300);
}

function renderSidebar() {
  const archivedView = state.view === "archived";
  const shown = archivedView ? state.archived : state.conversations;
  const sorted = [...shown.values()].sort((a, b) => (b.lastMessageAt || "").localeCompare(a.lastMessageAt || ""));
  ui.renderConversations(sorted, { currentId: state.open?.id, isOnline, onOpen: openConversation, onMarkUnread: markUnread, archivedView });
}

// The open conversation's header controls and, when blocked, the composer.
function showState() {
  const open = state.open;
  if (!open) return;
  const c = open.id ? conversationById(open.id) : null;
  const blockedByMe = state.blocked.has(open.other.id);
  ui.showConversationState({
    conversationId: open.id ?? null,
    hasConversation: Boolean(open.id),
    blocked: blockedByMe || Boolean(c?.blocked),
    blockedByMe,
    muted: Boolean(c?.muted),
    mutedUntil: c?.mutedUntil ?? null,
    archived: Boolean(c?.archived),
  });
}

// A message moved a conversation's preview; an unknown conversation means a fresh list.
function bumpConversation(m, { unread = false } = {}) {
  listEdits += 1;
  const conversation = state.conversations.get(m.conversationId);
  if (!conversation) return reloadConversationsSoon(); // new, or archived (an incoming message unarchives)
  conversation.lastMessage = m.content.slice(0, 255);
  conversation.lastMessageAt = m.createdAt;
  if (unread) conversation.unread += 1;
  renderSidebar();
}

// --- The open conversation ---------------------------------------------------------------------

function render(keep = null) {
  const open = state.open;
  if (!open) return;
  const sent = [...open.messages.values()].sort((a, b) => a.id - b.id);
  const pending = [...state.pending.values()].filter((item) => item.receiverId === open.other.id);
  messageList.render([...sent, ...pending], state.me.id, { hasMore: open.hasMore, keep });
}

function merge(raws) {
  const open = state.open;
  for (const raw of raws) {
    const m = toMessage(raw);
    if (m.conversationId !== open.id) continue;
    open.messages.set(m.id, m);
    open.maxSeq = Math.max(open.maxSeq, m.seq);
    if (m.clientMessageId) state.pending.delete(m.clientMessageId);
  }
}

// --- The URL: #/c/<id> names the open conversation ---------------------------------------------

function routedId() {
  const match = /^#\/c\/([0-9]{1,18})$/.exec(location.hash);
  return match ? Number(match[1]) : null;
}

// `push`: a new history entry (the user went somewhere); otherwise replace the current one.
function setRoute(id, { push = true } = {}) {
  if (routedId() === id) return;
  const url = id ? `#/c/${id}` : `${location.pathname}${location.search}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

// After logging in or reloading, and on Back/Forward: show the conversation the URL names.
function followRoute() {
  const id = routedId();
  if (id === (state.open?.id ?? null)) return;
  if (!id) return closeConversation({ route: false });
  const conversation = conversationById(id);
  if (conversation) return openConversation(conversation, { route: false });
  setRoute(null, { push: false });
  ui.notice("That conversation is not in your list.");
}

async function openConversation({ id, other }, { route = true } = {}) {
  if (state.open?.id && state.open.id !== id) socket.send("leave_conversation", { conversationId: state.open.id }).catch(() => {});
  stopTyping();
  if (route && id) setRoute(id);
  state.open = { id, other, messages: new Map(), hasMore: false, maxSeq: 0, loadingOlder: null };
  compose(null);
  clearUploads();
  messageList.clear();
  ui.showConversation(other, presenceOf(other.id));
  showState();
  renderSidebar();
  $input().focus();
  if (!id) return render("bottom"); // a new chat: the conversation exists once the first message is sent
  socket.send("join_conversation", { conversationId: id }).catch(() => {}); // before the fetch: nothing falls between
  try {
    const page = await api.messages(id, { before: NEWEST }, PAGE_SIZE);
    if (state.open?.id !== id) return;
    merge(page.messages);
    state.open.hasMore = page.hasMore;
    render("bottom");
    markReadSoon();
  } catch (err) {
    ui.notice(err.message);
  }
}

function closeConversation({ route = true } = {}) {
  if (route) setRoute(null);
  if (state.open?.id) socket.send("leave_conversation", { conversationId: state.open.id }).catch(() => {});
  stopTyping();
  state.open = null;
  compose(null);
  ui.showConversation(null);
  renderSidebar();
}

// Bring a message of the open conversation into view, paging back through history for it.
async function showMessage(conversationId, messageId) {
  const open = state.open;
  if (!open?.id || open.id !== conversationId || !messageId) return;
  for (let page = 0; !open.messages.has(messageId) && open.hasMore && page < REVEAL_MAX_PAGES; page += 1) {
    await loadOlder();
    if (state.open !== open) return;
  }
  if (!messageList.reveal(messageId)) ui.notice("That message is no longer there.");
}

// One page at a time; a caller that comes while one loads waits for that one.
function loadOlder() {
  const open = state.open;
  if (!open?.id || !open.hasMore || !open.messages.size) return Promise.resolve();
  open.loadingOlder ||= loadOlderPage(open);
  return open.loadingOlder;
}

async function loadOlderPage(open) {
  try {
    const oldest = Math.min(...open.messages.keys());
    const page = await api.messages(open.id, { before: String(oldest) }, PAGE_SIZE);
    if (state.open !== open) return;
    merge(page.messages);
    open.hasMore = page.hasMore;
    render("older");
  } catch (err) {
    ui.notice(err.message);
  } finally {
    open.loadingOlder = null;
  }
}

// Everything newer than the newest message we hold (after a reconnect, or a gap in seq).
async function catchUp() {
  const open = state.open;
  if (!open?.id) return;
  let hasMore = true;
  while (hasMore && state.open === open) {
    const ids = [...open.messages.keys()];
    const cursor = ids.length ? { after: String(Math.max(...ids)) } : { before: NEWEST };
    const page = await api.messages(open.id, cursor, 100);
    merge(page.messages);
    hasMore = Boolean(cursor.after) && page.hasMore;
    if (!cursor.after) open.hasMore = page.hasMore;
  }
  if (state.open === open) {
    render();
    markReadSoon();
  }
}

let readTimer = null;
function markReadSoon() {
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    const open = state.open;
    if (!open?.id || document.visibilityState !== "visible") return;
    const unread = [...open.messages.values()].some((m) => m.senderId !== state.me.id && !m.isRead);
    if (!unread && !state.conversations.get(open.id)?.unread) return;
    socket.send("mark_as_read", { conversationId: open.id }).catch(() => {});
  }, 200);
}

// --- Sending, typing, deleting -----------------------------------------------------------------

const $input = () => ui.$("#composer-input");

// The composer's reply or edit mode (null: a plain new message), shown above it.
function compose(context) {
  const wasEditing = composing?.kind === "edit";
  composing = context;
  ui.showComposerContext(context, nameOf);
  if (context?.kind === "edit") $input().value = context.message.content;
  else if (wasEditing) $input().value = "";
  ui.fitComposer($input());
  if (context) $input().focus();
}

// --- Attachments: uploaded as soon as they are picked, sent with the next message ----------------

function addFiles(files) {
  if (!state.open || composing?.kind === "edit") return;
  for (const file of files) {
    if (uploads.length >= MAX_ATTACHMENTS) {
      ui.notice(`At most ${MAX_ATTACHMENTS} files per message.`);
      break;
    }
    const upload = { file, state: "uploading", loaded: 0, total: file.size };
    const { promise, abort } = api.upload(file, (loaded, total) => {
      Object.assign(upload, { loaded, total });
      showUploads();
    });
    upload.abort = abort;
    uploads.push(upload);
    promise.then(
      (attachment) => Object.assign(upload, { state: "done", attachment: toAttachment(attachment) }),
      (err) => Object.assign(upload, { state: "failed", error: err.message }),
    ).finally(showUploads);
  }
  showUploads();
}

function removeUpload(upload) {
  if (upload.state === "uploading") upload.abort();
  uploads = uploads.filter((u) => u !== upload);
  showUploads();
}

function showUploads() {
  ui.renderUploads(uploads, { onRemove: removeUpload });
}

function clearUploads() {
  for (const upload of uploads) if (upload.state === "uploading") upload.abort();
  uploads = [];
  showUploads();
}

function sendMessage(content, attachments = []) {
  const open = state.open;
  const parent = composing?.kind === "reply" ? composing.message : null;
  const item = {
    clientMessageId: newId(),
    receiverId: open.other.id,
    content,
    senderId: state.me.id,
    createdAt: new Date().toISOString(),
    state: "sending",
    replyToId: parent?.id ?? null,
    replyTo: parent ? { id: parent.id, senderId: parent.senderId, content: parent.content.slice(0, 200), deleted: false } : null,
    reactions: [],
    attachments,
  };
  state.pending.set(item.clientMessageId, item);
  outbox.push(item);
  render("bottom");
  flushOutbox();
}

// The same clientMessageId again: should the first attempt have been stored after all, the
// server hands that message back instead of storing a second one.
function retrySend(item) {
  if (item.state !== "failed" || item.retryAt > Date.now()) return;
  Object.assign(item, { state: "sending", error: null, retryAt: 0 });
  outbox.push(item);
  render();
  flushOutbox();
}

function discardSend(item) {
  if (item.state !== "failed") return;
  state.pending.delete(item.clientMessageId);
  render();
}

async function flushOutbox() {
  for (const item of [...outbox]) {
    if (item.inFlight || socket.state !== "open") continue;
    item.inFlight = true;
    const data = { receiverId: item.receiverId, content: item.content, clientMessageId: item.clientMessageId };
    if (item.replyToId) data.replyToId = item.replyToId;
    if (item.attachments.length) data.attachmentIds = item.attachments.map((a) => a.id);
    try {
      delivered(item, await socket.send("send_message", data));
      outbox.splice(outbox.indexOf(item), 1);
    } catch (err) {
      item.inFlight = false;
      if (err.code === "disconnected" || err.code === "timeout") continue; // resent after reconnecting
      outbox.splice(outbox.indexOf(item), 1);
      const retryAt = err.code === "rate_limited" ? Date.now() + (err.retryAfter || 1) * 1000 : 0;
      Object.assign(item, { state: "failed", error: err.message, retryAt });
      if (retryAt) setTimeout(render, retryAt - Date.now() + 50); // Retry becomes clickable
      if (err.code === "forbidden") reloadConversationsSoon(); // blocked: the header will say so
      render();
    }
  }
}

function delivered(item, ack) {
  const m = toMessage(ack);
  const open = state.open;
  state.pending.delete(item.clientMessageId);
  if (open && open.other.id === item.receiverId) {
    if (!open.id) {
      open.id = m.conversationId; // the first message created the conversation: join its room
      socket.send("join_conversation", { conversationId: open.id }).catch(() => {});
      setRoute(open.id, { push: false });
    }
    merge([ack]);
    render("bottom");
  }
  bumpConversation(m);
}

function onTyping() {
  const conversationId = state.open?.id;
  if (!conversationId) return;
  const now = Date.now();
  if (!typing.active || now - typing.sentAt > TYPING_RENEW_MS) {
    socket.notify("typing", { conversationId });
    Object.assign(typing, { active: true, sentAt: now, conversationId });
  }
  clearTimeout(typing.idleTimer);
  typing.idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typing.idleTimer);
  if (typing.active) socket.notify("stop_typing", { conversationId: typing.conversationId });
  typing.active = false;
}

async function editMessage(message, content) {
  if (content === message.content) return;
  try {
    const ack = await socket.send("edit_message", { messageId: message.id, content });
    applyEdit({ id: message.id, conversationId: message.conversationId, content: ack.content ?? content, editedAt: ack.editedAt ?? ack.edited_at });
  } catch (err) {
    ui.notice(err.message);
  }
}

function applyEdit({ id, conversationId, content, editedAt }) {
  const open = state.open;
  if (open?.id !== conversationId) return reloadConversationsSoon();
  const m = open.messages.get(id);
  if (m) Object.assign(m, { content, editedAt });
  for (const reply of open.messages.values()) {
    if (reply.replyTo?.id === id) reply.replyTo = { ...reply.replyTo, content: content.slice(0, 200) };
  }
  render();
  const newest = Math.max(...open.messages.keys());
  if (id === newest) reloadConversationsSoon(); // the preview follows the newest message's edit
}

// The picker and the counts under a message both toggle: a reaction of mine goes, another is added.
async function toggleReaction(message, emoji) {
  const mine = message.reactions.find((r) => r.emoji === emoji)?.userIds.includes(state.me.id);
  try {
    const ack = await socket.send(mine ? "unreact" : "react", { messageId: message.id, emoji });
    if (Array.isArray(ack?.reactions)) {
      const m = state.open?.messages.get(message.id);
      if (m) m.reactions = ack.reactions;
      render();
    } else {
      applyReaction({ messageId: message.id, conversationId: message.conversationId, userId: state.me.id, emoji }, !mine);
    }
  } catch (err) {
    ui.notice(err.message);
  }
}

// Events and acks may both arrive for one change: applied by user id, so twice is once.
function applyReaction({ messageId, conversationId, userId, emoji }, added) {
  const m = state.open?.id === conversationId ? state.open.messages.get(messageId) : null;
  if (!m) return;
  const reactions = m.reactions.map((r) => ({ ...r, userIds: [...r.userIds] }));
  let entry = reactions.find((r) => r.emoji === emoji);
  if (added && !entry) reactions.push((entry = { emoji, count: 0, userIds: [] }));
  if (!entry) return;
  if (added && !entry.userIds.includes(userId)) entry.userIds.push(userId);
  if (!added) entry.userIds = entry.userIds.filter((id) => id !== userId);
  entry.count = entry.userIds.length;
  m.reactions = reactions.filter((r) => r.count > 0);
  render();
}

// --- Block, mute, archive, mark unread, report -------------------------------------------------------

// Mark unread from the newest message the other person sent me (so the badge shows 1 or more);
// closing the conversation keeps it from being read again at once.
async function markUnread(conversation) {
  try {
    const page = await api.messages(conversation.id, { before: NEWEST }, 50);
    const newest = page.messages.filter((m) => m.receiver_id === state.me.id).pop();
    if (!newest) return ui.notice("There is nothing from them to mark unread.");
    if (state.open?.id === conversation.id) closeConversation();
    const { updated } = await api.markUnread(conversation.id, newest.id);
    conversation.unread = Math.max(updated, 1);
    renderSidebar();
  } catch (err) {
    ui.notice(err.message);
  }
}

async function toggleBlock() {
  const other = state.open?.other;
  if (!other) return;
  const block = !state.blocked.has(other.id);
  try {
    await api.setBlocked(other.id, block);
    if (block) {
      state.blocked.add(other.id);
      state.online.set(other.id, false); // while blocked, each sees the other offline
      state.lastSeen.set(other.id, null);
    } else {
      state.blocked.delete(other.id);
    }
    showState();
    if (state.open?.other.id === other.id) ui.showPeer(other, presenceOf(other.id));
    ui.notice(block ? `${ui.displayName(other)} is blocked: neither of you can message the other.` : `${ui.displayName(other)} is unblocked.`);
    reloadConversationsSoon();
  } catch (err) {
    ui.notice(err.message);
  }
}

// `hours`: a number, null (until unmuted) or undefined (unmute).
async function setMute(hours) {
  const c = state.open?.id ? conversationById(state.open.id) : null;
  if (!c) return;
  try {
    let data;
    if (hours === undefined) data = await api.unmute(c.id);
    else data = await api.mute(c.id, hours === null ? null : new Date(Date.now() + hours * 3_600_000).toISOString());
    Object.assign(c, { muted: Boolean(data.muted), mutedUntil: data.muted_until ?? null });
    showState();
    renderSidebar();
  } catch (err) {
    ui.notice(err.message);
  }
}

async function toggleArchive() {
  const c = state.open?.id ? conversationById(state.open.id) : null;
  if (!c) return;
  try {
    await api.setArchived(c.id, !c.archived);
    c.archived = !c.archived;
    (c.archived ? state.conversations : state.archived).delete(c.id);
    (c.archived ? state.archived : state.conversations).set(c.id, c);
    showState();
    renderSidebar();
    ui.notice(c.archived ? "Archived. A new message from them brings it back." : "Moved back to your chats.");
  } catch (err) {
    ui.notice(err.message);
  }
}

async function reportMessage(message, reason, note) {
  try {
    await api.report(message.id, reason, note);
    ui.notice("Reported. Thank you: a moderator will look at it.");
    return true;
  } catch (err) {
    ui.notice(err.describe ? err.describe() : err.message);
    return false;
  }
}

async function deleteMessage(id) {
  try {
    await api.deleteMessage(id);
    removeMessage({ id, conversationId: state.open?.id });
  } catch (err) {
    ui.notice(err.message);
  }
}

function removeMessage({ id, conversationId }) {
  const open = state.open?.id === conversationId ? state.open : null;
  if (open) {
    open.messages.delete(id);
    for (const reply of open.messages.values()) {
      if (reply.replyTo?.id === id) reply.replyTo = { ...reply.replyTo, content: null, deleted: true };
    }
    if (composing?.message.id === id) compose(null);
    render();
  }
  reloadConversationsSoon(); // the preview may fall back to an older message
}

// --- Socket events -------------------------------------------------------------------------------

// First connect and every reconnect: re-join the open room, then fetch what was missed.
socket.on("open", async () => {
  const open = state.open;
  if (open?.id) await socket.send("join_conversation", { conversationId: open.id }).catch(() => {});
  flushOutbox();
  try {
    await Promise.all([loadConversations(), catchUp()]);
  } catch (err) {
    ui.notice(err.message);
  }
});

// Delivery receipts are the client's to confirm: every message that reaches this page.
function confirmDelivery(conversationId, messageId, senderId) {
  if (senderId !== state.me.id) socket.notify("mark_delivered", { conversationId, upToMessageId: messageId });
}

socket.on("new_message", (data) => {
  const m = toMessage(data);
  confirmDelivery(m.conversationId, m.id, m.senderId);
  const open = state.open;
  const here = open?.id === m.conversationId;
  bumpConversation(m, { unread: m.senderId !== state.me.id && (!here || document.visibilityState !== "visible") });
  if (!here) return;
  const gap = open.maxSeq && m.seq > open.maxSeq + 1;
  merge([data]);
  render();
  if (m.senderId !== state.me.id) showTyping(null);
  if (gap) catchUp().catch(() => {});
  else markReadSoon();
});

// Sent to us only when none of our sockets is in that conversation's room.
socket.on("message_notification", (data) => {
  confirmDelivery(data.conversationId, data.messageId, data.from?.id);
  if (state.open?.id === data.conversationId) return void catchUp().catch(() => {});
  const m = { conversationId: data.conversationId, content: data.content, createdAt: data.timestamp };
  bumpConversation(m, { unread: true });
});

function showTyping(userId) {
  clearTimeout(typing.shownTimer);
  ui.setTyping(userId ? `${ui.displayName(state.open.other)} is typing…` : "");
  if (userId) typing.shownTimer = setTimeout(() => ui.setTyping(""), TYPING_SHOWN_MS);
}

socket.on("user_typing", ({ userId, conversationId }) => {
  if (state.open?.id === conversationId && userId !== state.me.id) showTyping(userId);
});

socket.on("user_stopped_typing", ({ conversationId }) => {
  if (state.open?.id === conversationId) showTyping(null);
});

// Either the other side read what I sent ("Read" receipts), or I read it (from any of my tabs).
socket.on("messages_read", ({ conversationId, userId, upToMessageId }) => {
  const readByMe = userId === state.me.id;
  const conversation = state.conversations.get(conversationId);
  if (conversation && readByMe) {
    conversation.unread = 0;
    renderSidebar();
  }
  if (state.open?.id !== conversationId) return;
  for (const m of state.open.messages.values()) {
    if (m.id <= upToMessageId && (m.senderId === state.me.id) !== readByMe) {
      m.isRead = true;
      m.deliveredAt ??= m.readAt ?? new Date().toISOString(); // reading implies delivery
    }
  }
  render();
});

socket.on("message_deleted", removeMessage);

// My messages reached the other person's client: two ticks.
socket.on("messages_delivered", ({ conversationId, upToMessageId, deliveredAt }) => {
  if (state.open?.id !== conversationId) return;
  for (const m of state.open.messages.values()) {
    if (m.id <= upToMessageId && m.senderId === state.me.id && !m.deliveredAt) m.deliveredAt = deliveredAt;
  }
  render();
});

// I marked a conversation unread in another tab.
socket.on("conversation_unread", ({ conversationId }) => {
  if (state.open?.id === conversationId) closeConversation();
  reloadConversationsSoon();
});
socket.on("message_edited", applyEdit);
socket.on("reaction_added", (data) => applyReaction(data, true));
socket.on("reaction_removed", (data) => applyReaction(data, false));

socket.on("presence", ({ userId, isOnline: online, lastSeenAt }) => {
  state.online.set(userId, online);
  if (lastSeenAt !== undefined) state.lastSeen.set(userId, lastSeenAt);
  // The server sends the real presence again when a block between us ends: time to look.
  const conversations = [...state.conversations.values(), ...state.archived.values()];
  if (conversations.some((c) => c.other.id === userId && c.blocked)) reloadConversationsSoon();
  renderSidebar();
  if (state.open?.other.id === userId) ui.showPeer(state.open.other, presenceOf(userId));
});

socket.on("error", (data) => console.warn("chat socket error", data));

// --- Session -------------------------------------------------------------------------------------

async function enter() {
  state.me = await api.me();
  ui.showChat(state.me);
  api.schedule();
  await loadConversations();
  followRoute();
  socket.start();
}

function leave(message = "") {
  socket.stop();
  api.clear();
  outbox.length = 0;
  state.me = null;
  state.open = null;
  state.pending.clear();
  state.conversations.clear();
  state.archived.clear();
  state.blocked.clear();
  clearUploads();
  state.view = "chats";
  setRoute(null, { push: false });
  messageList.clear();
  ui.showConversation(null);
  clearSearch();
  ui.showAuth(message);
}

async function authenticate(form, action) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  ui.$("#auth-error").textContent = "";
  try {
    await action(new FormData(form));
    form.reset();
    await enter();
  } catch (err) {
    ui.$("#auth-error").textContent = err.describe ? err.describe() : err.message;
  } finally {
    button.disabled = false;
  }
}

// --- Wiring the page -------------------------------------------------------------------------------

ui.$("#login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  authenticate(event.target, (f) => api.login(f.get("username"), f.get("password")));
});

ui.$("#register-form").addEventListener("submit", (event) => {
  event.preventDefault();
  authenticate(event.target, (f) => api.register(Object.fromEntries([...f].filter(([, value]) => value !== ""))));
});

for (const button of document.querySelectorAll("[data-show-form]")) {
  button.addEventListener("click", () => {
    const showRegister = button.dataset.showForm === "register";
    ui.$("#login-form").hidden = showRegister;
    ui.$("#register-form").hidden = !showRegister;
    ui.$(showRegister ? "#register-username" : "#login-username").focus();
  });
}

ui.$("#logout").addEventListener("click", () => leave());
ui.$("#back").addEventListener("click", () => closeConversation());

// One search box: people to start a chat with (2+ characters, as /users asks) and my
// messages in every conversation (/search). A newer term's answers replace an older one's.
const search = { timer: null, term: "", results: [], hasMore: false };

function clearSearch() {
  clearTimeout(search.timer);
  search.term = "";
  ui.$("#search-input").value = "";
  ui.renderSearchResults(null, {});
  ui.renderMessageResults(null, {});
}

function hitName(m) {
  const otherId = m.senderId === state.me.id ? m.receiverId : m.senderId;
  return m.senderId === state.me.id ? `You to ${nameOf(otherId)}` : nameOf(otherId);
}

function showHits() {
  ui.renderMessageResults(search.results, {
    term: search.term,
    hasMore: search.hasMore,
    nameOf: hitName,
    onPick: pickHit,
    onMore: () => searchMessages(search.term, true),
  });
}

async function searchMessages(term, more = false) {
  const before = more && search.results.length ? String(search.results[search.results.length - 1].id) : null;
  const page = await api.searchMessages(term, before);
  if (search.term !== term) return;
  for (const raw of page.messages) for (const user of [raw.sender, raw.receiver]) if (user) notePresence(user);
  search.results = [...(more ? search.results : []), ...page.messages.map((raw) => ({ ...toMessage(raw), raw }))];
  search.hasMore = page.hasMore;
  showHits();
}

async function searchPeople(term) {
  if (term.length < 2) return ui.renderSearchResults(null, {}); // the directory answers 2+ characters (shorter: a 400)
  const page = await api.users(term);
  if (search.term !== term) return;
  for (const user of page.users) notePresence(user);
  ui.renderSearchResults(page.users, { isOnline, onPick: pickUser });
}

ui.$("#search-input").addEventListener("input", (event) => {
  clearTimeout(search.timer);
  const term = event.target.value.trim();
  if (!term) return clearSearch();
  search.timer = setTimeout(() => {
    search.term = term;
    for (const lookup of [searchPeople(term), searchMessages(term)]) lookup.catch((err) => ui.notice(err.message));
  }, 250);
});
ui.$("#search-input").addEventListener("keydown", (event) => event.key === "Escape" && clearSearch());
ui.$("#search-form").addEventListener("submit", (event) => event.preventDefault());

// A search hit opens its conversation (archived or not in the list yet) and scrolls to it.
async function pickHit(hit) {
  const raw = hit.raw;
  const other = raw.sender_id === state.me.id ? raw.receiver : raw.sender;
  const conversation = state.conversations.get(hit.conversationId) || { id: hit.conversationId, other };
  clearSearch();
  if (state.open?.id !== hit.conversationId) await openConversation(conversation);
  await showMessage(hit.conversationId, hit.id);
}

function pickUser(user) {
  clearSearch();
  const existing = [...state.conversations.values()].find((c) => c.other.id === user.id);
  openConversation(existing || { id: null, other: user });
}

ui.$("#composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const content = $input().value;
  if (!state.open) return;
  if (composing?.kind === "edit") {
    if (!content.trim()) return;
    stopTyping();
    editMessage(composing.message, content);
  } else {
    if (uploads.some((u) => u.state === "uploading")) return ui.notice("Wait for the files to finish uploading.");
    const ready = uploads.filter((u) => u.state === "done").map((u) => u.attachment);
    if (!content.trim() && !ready.length) return;
    stopTyping();
    sendMessage(content.trim() ? content : "", ready);
    uploads = uploads.filter((u) => u.state === "failed"); // failures stay to be seen and removed
    showUploads();
  }
  $input().value = "";
  compose(null);
});

ui.$("#composer-context-cancel").addEventListener("click", () => compose(null));

ui.$("#attach-button").addEventListener("click", () => ui.$("#attach-input").click());
ui.$("#attach-input").addEventListener("change", (event) => {
  addFiles([...event.target.files]);
  event.target.value = ""; // picking the same file again is a new pick
});

// Drag and drop onto the conversation; a counter, since dragleave fires for every child left.
let dragDepth = 0;
const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
const pane = ui.$("#conversation");
pane.addEventListener("dragenter", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dragDepth += 1;
  ui.showDropHint(true);
});
pane.addEventListener("dragover", (event) => carriesFiles(event) && event.preventDefault());
pane.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) ui.showDropHint(false);
});
pane.addEventListener("drop", (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dragDepth = 0;
  ui.showDropHint(false);
  addFiles([...event.dataTransfer.files]);
});

ui.$("#block-button").addEventListener("click", toggleBlock);
ui.$("#archive-button").addEventListener("click", toggleArchive);
ui.$("#unmute-button").addEventListener("click", () => setMute(undefined));
for (const item of document.querySelectorAll("[data-mute-hours]")) {
  item.addEventListener("click", () => setMute(item.dataset.muteHours ? Number(item.dataset.muteHours) : null));
}
ui.$("#show-archived").addEventListener("click", () => {
  state.view = state.view === "archived" ? "chats" : "archived";
  renderSidebar();
});

$input().addEventListener("keydown", (event) => {
  if (event.key === "Escape" && composing) {
    event.preventDefault();
    compose(null);
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.$("#composer").requestSubmit();
  }
});
$input().addEventListener("input", () => {
  ui.fitComposer($input());
  onTyping();
});

addEventListener("popstate", () => state.me && followRoute());

// Relative times ("Yesterday", "last seen today at …") move on with the clock.
setInterval(() => {
  if (!state.me) return;
  renderSidebar();
  render();
  if (state.open) ui.showPeer(state.open.other, presenceOf(state.open.other.id));
}, 60_000);

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.open) markReadSoon();
});

if (api.loggedIn) enter().catch((err) => leave(err.message));
else ui.showAuth();
