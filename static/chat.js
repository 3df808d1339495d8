// The chat page: the tutorial's group chat, plus history, rooms, presence,
// typing, catch-up after a reconnect, earlier pages and unread counts.
// Text is always inserted with textContent, never as HTML (lines.js draws
// the lines).
(() => {
  "use strict";

  const STRINGS = {
    zh: {
      ask: "请输入你的昵称",
      askAgain: "这个昵称不能用，换一个吧",
      guest: "访客",
      title: (name) => `${name}的群聊`,
      joined: (name) => `${name} 加入了群聊`,
      left: (name) => `${name} 离开了群聊`,
      typing: (names) => `${names.join("、")} 正在输入…`,
      earlier: "以上是较早的消息",
      start: "这是最早的消息",
      unread: "新消息",
      online: (n) => `在线 ${n}`,
      send: "发送",
      messages: "消息",
      message: "输入消息（Enter 发送，Shift+Enter 换行）",
      connecting: "连接中…",
      connected: "已连接",
      reconnecting: "重新连接中…",
      unconfirmed: (text) => `没有收到服务器的确认，可能没有发出：${text}`,
    },
    en: {
      ask: "Choose a nickname",
      askAgain: "That nickname can't be used; pick another",
      guest: "guest",
      title: (name) => `${name}'s group chat`,
      joined: (name) => `${name} joined the chat`,
      left: (name) => `${name} left the chat`,
      typing: (names) => `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…`,
      earlier: "Earlier messages",
      start: "This is the first message",
      unread: "New messages",
      online: (n) => `Online ${n}`,
      send: "Send",
      messages: "Messages",
      message: "Message (Enter sends, Shift+Enter breaks the line)",
      connecting: "Connecting…",
      connected: "Connected",
      reconnecting: "Reconnecting…",
      unconfirmed: (text) => `The server did not confirm this; it may not have been sent: ${text}`,
    },
  };
  const preferred = (navigator.languages || [navigator.language]).find((l) => /^(zh|en)/i.test(l)) || "zh";
  const t = /^en/i.test(preferred) ? STRINGS.en : STRINGS.zh;
  document.documentElement.lang = t === STRINGS.en ? "en" : "zh-CN";

  const ACK_TIMEOUT = 10000; // ms a post may wait for the server's answer
  const PAGE = 50; // earlier messages asked for at a time
  const UNREAD_LINGER = 5000; // ms the "new messages" divider stays once you are back
  const $ = (id) => document.getElementById(id);
  const lines = $("lines");
  const view = window.chatLines(lines, t);
  const input = $("input");
  $("send").textContent = t.send;
  lines.setAttribute("aria-label", t.messages);
  input.setAttribute("aria-label", t.message);

  const room = document.body.dataset.room || "lobby";
  const client = (crypto.randomUUID && crypto.randomUUID()) || String(Math.random()).slice(2);
  const seen = new Set();
  let lastId = null;
  let oldestId = null; // the earliest message shown; null: none before it
  let loading = false;
  let epoch = null; // which database our ids came from
  let name = askName(t.ask, localStorage.getItem("chat.name") || "");

  function askName(question, suggestion) {
    for (let i = 0; i < 3; i++) {
      const answer = window.prompt(question, suggestion);
      // 32 code points, as the server counts them: slicing UTF-16 units
      // could keep half of an emoji's surrogate pair, which no server takes.
      if (answer && answer.trim()) return Array.from(answer.trim()).slice(0, 32).join("");
    }
    return t.guest + Math.floor(1000 + Math.random() * 9000);
  }

  function setName(value) {
    name = value;
    localStorage.setItem("chat.name", name);
    showTitle();
    $("heading").textContent = t.title(name);
  }

  // While the tab is hidden, the title counts the lines that came, and a
  // divider marks the first; once you are back, both go.
  let unread = 0;
  let divider = null;
  const hidden = () => document.visibilityState === "hidden";
  function showTitle() {
    document.title = unread ? `(${unread}) ${t.title(name)}` : t.title(name);
  }
  function arrived(li) {
    if (!hidden()) return;
    unread += 1;
    showTitle();
    if (divider === null) {
      divider = view.divider();
      li.before(divider);
    }
  }
  document.addEventListener("visibilitychange", () => {
    if (hidden()) return;
    unread = 0;
    showTitle();
    const seenDivider = divider;
    divider = null;
    if (seenDivider) setTimeout(() => seenDivider.remove(), window.chatUnreadLinger ?? UNREAD_LINGER);
  });

  // New lines are read out politely; history and earlier pages are not.
  function announce(text) {
    const said = document.createElement("p");
    said.textContent = text;
    $("announce").append(said);
    while ($("announce").childElementCount > 3) $("announce").firstElementChild.remove();
  }

  function addLine(text, cls) {
    announce(text);
    return view.notice(text, cls);
  }

  const isOwn = (m) => m.name === name;
  function showMessage(m, cls) {
    if (seen.has(m.id)) return; // a catch-up and a broadcast may overlap
    seen.add(m.id);
    lastId = Math.max(lastId || 0, m.id);
    const li = view.message(m, isOwn(m), cls);
    if (cls === "earlier" || isOwn(m)) return;
    arrived(li);
    announce(`${m.name}: ${m.text}`);
  }

  // Scrolled to the top: the page before the oldest line, until the first.
  function loadEarlier() {
    if (loading || oldestId === null || lines.scrollTop > 60) return;
    if (oldestId <= 1) return reachedStart();
    loading = true;
    const asked = epoch;
    socket.emit("history", { room, before: oldestId, limit: PAGE }, (reply) => {
      loading = false;
      if (!reply.ok || reply.epoch !== asked || asked !== epoch) return;
      const older = reply.messages.filter((m) => !seen.has(m.id));
      older.forEach((m) => seen.add(m.id));
      view.prepend(older, isOwn);
      if (reply.messages.length) oldestId = reply.messages[0].id;
      if (reply.messages.length < PAGE) reachedStart();
      else loadEarlier(); // still at the top (a tall screen): one more
    });
  }
  function reachedStart() {
    oldestId = null;
    view.separator(t.start, true);
  }
  lines.addEventListener("scroll", loadEarlier, { passive: true });

  function setStatus(state) {
    const el = $("status");
    el.className = `status ${state}`;
    el.textContent = t[state];
  }

  setName(name);
  setStatus("connecting");

  // The auth payload is read on every (re)connect: the server re-joins us
  // and sends exactly the messages after lastId.
  // Served under a sub-path (behind a proxy), Socket.IO lives there too.
  const base = document.body.dataset.base || "";
  const socket = io({
    path: `${base}/socket.io`,
    auth: (cb) => cb({ name, room, after: lastId, epoch, client }),
  });

  socket.on("connect", () => setStatus("connected"));
  socket.on("disconnect", () => setStatus("reconnecting"));
  socket.io.on("reconnect_attempt", () => setStatus("reconnecting"));

  socket.on("joined", (info) => setName(info.name));
  socket.on("history", (h) => {
    if (h.epoch !== epoch) {
      // First join, or the server's database was replaced: ids start again.
      // Earlier pages are read from the first database only: a replaced
      // one's would land above lines that are not its own.
      oldestId = epoch === null && h.messages.length ? h.messages[0].id : null;
      seen.clear();
      lastId = null;
      epoch = h.epoch;
    }
    if (!h.catchup) {
      const fresh = h.messages.filter((m) => !seen.has(m.id));
      fresh.forEach((m) => showMessage(m, "earlier"));
      if (fresh.length) view.separator(t.earlier);
      loadEarlier();
    } else {
      h.messages.forEach((m) => showMessage(m));
    }
    if (lastId === null) lastId = h.last_id;
    people = [...h.users]; // the whole list once; joins and leaves after
    showPeople();
  });
  socket.on("chat", (m) => showMessage(m));

  let people = [];
  function showPeople() {
    $("users").replaceChildren(
      ...people.map((n) => {
        const li = document.createElement("li");
        li.textContent = n;
        return li;
      }),
    );
    $("users-heading").textContent = t.online(people.length);
    $("room-name").textContent = `#${room} · ${people.length}`;
  }
  socket.on("user_joined", (u) => {
    addLine(t.joined(u.name), "notice");
    if (!people.includes(u.name)) people.push(u.name);
    showPeople();
  });

  const typists = new Set();
  function showTypists() {
    $("typing").textContent = typists.size ? t.typing([...typists]) : "";
  }
  socket.on("typing", (e) => {
    if (e.typing) typists.add(e.name);
    else typists.delete(e.name);
    showTypists();
  });
  socket.on("user_left", (u) => {
    addLine(t.left(u.name), "notice");
    people = people.filter((n) => n !== u.name);
    showPeople();
    typists.delete(u.name);
    showTypists();
  });

  function rejoin(err) {
    setName(askName(`${t.askAgain}: ${err.message}`, err.suggestion || ""));
    socket.emit("join", { name, room, after: lastId, epoch, client }, (reply) => {
      if (reply.ok) setName(reply.name);
      else onError({ event: "join", ...reply.error });
    });
  }

  function onError(err) {
    if (err.event === "join" && (err.code === "name_taken" || err.code === "invalid_name")) {
      rejoin(err);
    } else {
      addLine(err.message, "error");
    }
  }
  socket.on("chat_error", onError);

  // Typing: "true" when typing starts and again every few seconds while it
  // goes on (the server forgets an indicator after 6 s without one), "false"
  // after a 3 s pause.
  let typingTimer = null;
  let typingSaid = 0;
  input.addEventListener("input", () => {
    const now = Date.now();
    if (typingTimer === null || now - typingSaid > 2500) {
      socket.emit("typing", true);
      typingSaid = now;
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => {
      typingTimer = null;
      socket.emit("typing", false);
    }, 3000);
  });

  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    clearTimeout(typingTimer);
    typingTimer = null; // the server clears our indicator when we post
    // A post the server never answers (a stalled disk, a lost connection)
    // is said after a while rather than silently dropped.
    socket.timeout(window.chatAckTimeout || ACK_TIMEOUT).emit("message", text, (err, reply) => {
      if (err) addLine(t.unconfirmed(text), "error");
      else if (reply && !reply.ok) addLine(reply.error.message, "error");
    });
    input.value = "";
    fit();
    input.focus();
  });

  // Enter sends, Shift+Enter breaks the line; Enter that ends an input
  // method's composition (choosing Chinese characters) only does that.
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    $("form").requestSubmit();
  });
  // The box grows with its lines, up to a few.
  function fit() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
  }
  input.addEventListener("input", fit);
})();
