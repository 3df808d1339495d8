// How the chat page draws its lines: the time on each, a date line once per
// day, a colour per sender, your own lines apart, clickable links and the
// "new messages" divider. Text only ever goes in as text nodes or
// textContent: nothing a message holds is interpreted as HTML.
window.chatLines = (list, t) => {
  "use strict";

  const lang = document.documentElement.lang;
  const clock = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const dayName = new Intl.DateTimeFormat(lang, { dateStyle: "full" });
  const fullDate = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "medium" });
  const COLOURS = 12; // .c0 … .c11 in chat.css, each readable light and dark

  // http(s) addresses up to a space, a quote, an angle bracket or CJK
  // punctuation; punctuation that usually ends a sentence is not kept.
  const LINK = /https?:\/\/[^\s<>"'`，。！？、；：（）「」『』【】《》]+/giu;
  const TRAILING = /[.,;:!?)\]}]+$/u;

  function colour(name) {
    let h = 2166136261; // FNV-1a: the same name gets the same colour on every load
    for (const ch of name) h = Math.imul(h ^ ch.codePointAt(0), 16777619);
    // ...then mixed (MurmurHash3's finish), or names differing in their last
    // character would mostly share one.
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return `c${((h ^ (h >>> 16)) >>> 0) % COLOURS}`;
  }

  function withLinks(parent, text) {
    let done = 0;
    for (const match of text.matchAll(LINK)) {
      const raw = match[0].replace(TRAILING, "");
      let url = null;
      try {
        url = new URL(raw);
      } catch {
        continue;
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") continue;
      parent.append(text.slice(done, match.index));
      const a = document.createElement("a");
      a.href = url.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = raw;
      parent.append(a);
      done = match.index + raw.length;
    }
    parent.append(text.slice(done));
  }

  function dayOf(date) {
    return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
  }

  function item(cls, date) {
    const li = document.createElement("li");
    li.className = cls;
    if (date) {
      li.dataset.day = dayOf(date);
      const time = document.createElement("time");
      time.className = "when";
      time.dateTime = date.toISOString();
      time.title = fullDate.format(date);
      time.textContent = clock.format(date);
      li.append(time, " ");
    }
    const body = document.createElement("span");
    body.className = "body";
    li.append(body);
    return [li, body];
  }

  function dayLine(date) {
    const [li, body] = item("day");
    li.dataset.day = dayOf(date);
    body.textContent = dayName.format(date);
    return li;
  }

  function messageLine(m, own, cls) {
    const [li, body] = item(`msg${own ? " own" : ""}${cls ? ` ${cls}` : ""}`, new Date(m.ts));
    li.dataset.id = m.id;
    const who = document.createElement("span");
    who.className = `name ${colour(m.name)}`;
    who.textContent = m.name;
    const text = document.createElement("span");
    text.className = "text";
    withLinks(text, m.text);
    body.append(who, ": ", text);
    return li;
  }

  // The day of the last dated line: a new day starts with its date line.
  let lastDay = null;
  function dated(li, date) {
    const day = dayOf(date);
    const lines = day === lastDay ? [li] : [dayLine(date), li];
    lastDay = day;
    return lines;
  }

  function atBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  function add(li, date) {
    const follow = atBottom();
    list.append(...(date ? dated(li, date) : [li]));
    if (follow) list.scrollTop = list.scrollHeight;
    return li;
  }

  // Lines put above the others, the view kept where it was; a date line
  // that would come twice (the one that began the day below) goes.
  function above(nodes, day) {
    const height = list.scrollHeight;
    const top = list.firstElementChild;
    if (top && top.classList.contains("day") && top.dataset.day === day) top.remove();
    list.prepend(nodes);
    list.scrollTop += list.scrollHeight - height;
    return nodes;
  }

  return {
    message: (m, own, cls) => add(messageLine(m, own, cls), new Date(m.ts)),

    notice(text, cls) {
      const now = new Date();
      const [li, body] = item(cls, now);
      body.textContent = text;
      return add(li, now);
    },

    separator(text, top) {
      const [li, body] = item("separator");
      body.textContent = text;
      return top ? above(li) : add(li);
    },

    // Older messages above everything shown, the view kept where it was.
    prepend(messages, isOwn) {
      if (!messages.length) return;
      const fragment = document.createDocumentFragment();
      let day = null;
      for (const m of messages) {
        const date = new Date(m.ts);
        if (dayOf(date) !== day) fragment.append(dayLine(date));
        day = dayOf(date);
        fragment.append(messageLine(m, isOwn(m), "earlier"));
      }
      above(fragment, day);
    },

    divider() {
      const [li, body] = item("unread");
      body.textContent = t.unread;
      return li;
    },
  };
};
