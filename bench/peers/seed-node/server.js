// The original design (chat-design-node.md) as a minimal Node app, the bench's peer: Express for
// REST, Socket.IO for the socket, Sequelize on PostgreSQL, one process. It does what the design
// says a send does (find or create the conversation, create the message, update the conversation's
// preview, read the message back with its sender and receiver), and nothing this project added.
//
// Environment: PORT, DATABASE_URL (postgres://...), JWT_SECRET, BCRYPT_ROUNDS (10), DB_POOL_MAX (5,
// Sequelize's default). `node server.js` syncs the tables (DB_SYNC) and listens on 127.0.0.1.
"use strict";

const http = require("node:http");
const express = require("express");
const { Server } = require("socket.io");
const { Sequelize, DataTypes, Op } = require("sequelize");
const jwt = require("jsonwebtoken");
const bcrypt = require("bcryptjs");

const PORT = Number(process.env.PORT || 3010);
const SECRET = process.env.JWT_SECRET;
if (!process.env.DATABASE_URL || !SECRET) {
  console.error("DATABASE_URL and JWT_SECRET are required");
  process.exit(2);
}
const ROUNDS = Number(process.env.BCRYPT_ROUNDS || 10);

const sequelize = new Sequelize(process.env.DATABASE_URL, {
  dialect: "postgres",
  logging: false,
  pool: { max: Number(process.env.DB_POOL_MAX || 5), min: 0, idle: 10000 },
});

const User = sequelize.define("User", {
  id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
  username: { type: DataTypes.STRING(150), allowNull: false, unique: true },
  email: { type: DataTypes.STRING, allowNull: false, unique: true },
  password: { type: DataTypes.STRING, allowNull: false },
});

const Conversation = sequelize.define(
  "Conversation",
  {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    participant_1_id: { type: DataTypes.INTEGER, allowNull: false, references: { model: User, key: "id" } },
    participant_2_id: { type: DataTypes.INTEGER, allowNull: false, references: { model: User, key: "id" } },
    last_message: { type: DataTypes.STRING, allowNull: true },
    last_message_at: { type: DataTypes.DATE, allowNull: true },
  },
  {
    indexes: [
      { unique: true, fields: ["participant_1_id", "participant_2_id"] },
      { fields: ["participant_2_id"] },
    ],
  },
);

const Message = sequelize.define(
  "Message",
  {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    sender_id: { type: DataTypes.INTEGER, allowNull: false, references: { model: User, key: "id" } },
    receiver_id: { type: DataTypes.INTEGER, allowNull: false, references: { model: User, key: "id" } },
    conversation_id: { type: DataTypes.INTEGER, allowNull: false, references: { model: Conversation, key: "id" } },
    content: { type: DataTypes.TEXT, allowNull: false },
    attachment_url: { type: DataTypes.STRING, allowNull: true },
    is_read: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    read_at: { type: DataTypes.DATE, allowNull: true },
  },
  { paranoid: true, indexes: [{ fields: ["conversation_id"] }, { fields: ["receiver_id"] }] },
);
Message.belongsTo(User, { as: "sender", foreignKey: "sender_id" });
Message.belongsTo(User, { as: "receiver", foreignKey: "receiver_id" });

const PUBLIC_USER = ["id", "username", "email"];

// --- ChatService (the design's methods that a send uses) ----------------------------------------

async function getOrCreateConversation(userId1, userId2) {
  const [p1, p2] = userId1 < userId2 ? [userId1, userId2] : [userId2, userId1];
  const found = await Conversation.findOne({ where: { participant_1_id: p1, participant_2_id: p2 } });
  if (found) return found;
  try {
    return await Conversation.create({ participant_1_id: p1, participant_2_id: p2 });
  } catch (err) {
    if (err.name !== "SequelizeUniqueConstraintError") throw err;
    return Conversation.findOne({ where: { participant_1_id: p1, participant_2_id: p2 } });
  }
}

async function sendMessage(senderId, receiverId, content, attachmentUrl) {
  const conversation = await getOrCreateConversation(senderId, receiverId);
  const message = await Message.create({
    sender_id: senderId,
    receiver_id: receiverId,
    conversation_id: conversation.id,
    content,
    attachment_url: attachmentUrl || null,
  });
  await conversation.update({ last_message: content.slice(0, 255), last_message_at: new Date() });
  return Message.findByPk(message.id, {
    include: [
      { model: User, as: "sender", attributes: PUBLIC_USER },
      { model: User, as: "receiver", attributes: PUBLIC_USER },
    ],
  });
}

function validSend(body, senderId) {
  if (!body || typeof body !== "object") return "body must be an object";
  if (!Number.isInteger(body.receiverId) || body.receiverId === senderId) return "receiverId is invalid";
  if (typeof body.content !== "string" || !body.content.trim() || body.content.length > 5000) return "content is invalid";
  return null;
}

// --- REST -----------------------------------------------------------------------------------------

const app = express();
app.use(express.json({ limit: "64kb" }));

function sign(user) {
  return jwt.sign({ id: user.id }, SECRET, { expiresIn: "3h" });
}

function authenticate(req, res, next) {
  const header = req.headers.authorization || "";
  try {
    req.userId = jwt.verify(header.replace(/^Bearer /, ""), SECRET).id;
    next();
  } catch {
    res.status(401).json({ success: false, message: "Unauthorized" });
  }
}

app.post("/api/auth/register", async (req, res) => {
  const { username, email, password } = req.body || {};
  if (typeof username !== "string" || typeof email !== "string" || typeof password !== "string" || password.length < 8) {
    return res.status(400).json({ success: false, message: "username, email and a password of 8+ characters are required" });
  }
  try {
    const user = await User.create({ username, email, password: await bcrypt.hash(password, ROUNDS) });
    res.status(201).json({ success: true, data: { user: { id: user.id, username, email }, token: sign(user) } });
  } catch (err) {
    if (err.name === "SequelizeUniqueConstraintError") {
      return res.status(400).json({ success: false, message: "username or email taken" });
    }
    res.status(500).json({ success: false, message: "Server error" });
  }
});

app.post("/api/auth/login", async (req, res) => {
  const { username, password } = req.body || {};
  const user = typeof username === "string" ? await User.findOne({ where: { username } }) : null;
  if (!user || typeof password !== "string" || !(await bcrypt.compare(password, user.password))) {
    return res.status(401).json({ success: false, message: "Invalid credentials" });
  }
  res.json({ success: true, data: { user: { id: user.id, username: user.username }, token: sign(user) } });
});

app.post("/api/chat/send", authenticate, async (req, res) => {
  const invalid = validSend(req.body, req.userId);
  if (invalid) return res.status(400).json({ success: false, message: invalid });
  try {
    const receiver = await User.findByPk(req.body.receiverId, { attributes: ["id"] });
    if (!receiver) return res.status(404).json({ success: false, message: "No such user" });
    const message = await sendMessage(req.userId, req.body.receiverId, req.body.content, req.body.attachmentUrl);
    publish(message);
    res.status(201).json({ success: true, message: "Message sent", data: message });
  } catch {
    res.status(500).json({ success: false, message: "Server error" });
  }
});

app.get("/health", (_req, res) => res.json({ success: true }));

// --- Socket.IO -------------------------------------------------------------------------------------

const server = http.createServer(app);
const io = new Server(server, { cors: { origin: false }, maxHttpBufferSize: 64 * 1024 });

io.use((socket, next) => {
  try {
    socket.userId = jwt.verify(socket.handshake.auth && socket.handshake.auth.token, SECRET).id;
    next();
  } catch {
    next(new Error("Unauthorized"));
  }
});

function payload(message) {
  return {
    id: message.id,
    senderId: message.sender_id,
    receiverId: message.receiver_id,
    conversationId: message.conversation_id,
    content: message.content,
    attachmentUrl: message.attachment_url,
    isRead: message.is_read,
    createdAt: message.createdAt,
    sender: message.sender,
  };
}

// new_message to the conversation's room; message_notification to the receiver's personal room
// when none of the receiver's sockets sits in the conversation (one process: the adapter knows).
function publish(message) {
  const room = `conversation_${message.conversation_id}`;
  const data = payload(message);
  io.to(room).emit("new_message", data);
  const inRoom = io.sockets.adapter.rooms.get(room);
  const personal = io.sockets.adapter.rooms.get(`user_${message.receiver_id}`);
  const present = inRoom && personal && [...personal].some((id) => inRoom.has(id));
  if (!present) {
    io.to(`user_${message.receiver_id}`).emit("message_notification", {
      from: message.sender_id,
      conversationId: message.conversation_id,
      content: message.content,
      timestamp: message.createdAt,
    });
  }
}

function reply(ack, body) {
  if (typeof ack === "function") ack(body);
}

io.on("connection", (socket) => {
  socket.join(`user_${socket.userId}`);
  socket.on("join_personal_room", (_data, ack) => reply(ack, { success: true }));

  socket.on("join_conversation", async (data, ack) => {
    try {
      const id = data && data.conversationId;
      const conversation = Number.isInteger(id) ? await Conversation.findByPk(id) : null;
      if (!conversation || ![conversation.participant_1_id, conversation.participant_2_id].includes(socket.userId)) {
        return reply(ack, { success: false, message: "No such conversation" });
      }
      socket.join(`conversation_${id}`);
      socket.to(`conversation_${id}`).emit("user_joined", { userId: socket.userId, message: "joined" });
      reply(ack, { success: true });
    } catch {
      reply(ack, { success: false, message: "Server error" });
    }
  });

  socket.on("leave_conversation", (data, ack) => {
    const id = data && data.conversationId;
    socket.leave(`conversation_${id}`);
    socket.to(`conversation_${id}`).emit("user_left", { userId: socket.userId, message: "left" });
    reply(ack, { success: true });
  });

  socket.on("send_message", async (data, ack) => {
    const invalid = validSend(data, socket.userId);
    if (invalid) return reply(ack, { success: false, message: invalid });
    try {
      const message = await sendMessage(socket.userId, data.receiverId, data.content, data.attachmentUrl);
      publish(message);
      reply(ack, { success: true, data: payload(message) });
    } catch {
      reply(ack, { success: false, message: "Server error" });
    }
  });
});

async function main() {
  await sequelize.authenticate();
  if ((process.env.DB_SYNC || "true") === "true") await sequelize.sync();
  server.listen(PORT, "127.0.0.1", () => console.log(`seed-node listening on 127.0.0.1:${PORT}`));
}

function shutdown() {
  io.close();
  sequelize.close().finally(() => process.exit(0));
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
