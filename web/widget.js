/*
 * 人社小助手 — website chat widget (vanilla JS, no framework, no CDN).
 *
 * Embed:   <script src="https://HOST/widget.js" defer></script>
 * Config:  window.RensheWidgetConfig = {socketUrl: "http://localhost:5005", ...} before the tag,
 *          or data attributes on the tag (data-socket-url, data-api-url, data-title, data-open,
 *          data-large-text). Defaults: socketUrl = this page's host on port 5005; apiUrl, the
 *          stylesheet and the socket.io client come from where widget.js itself was loaded.
 * Page API: window.RensheWidget.open() / close() / ask(text) / clear(); any element with
 *          data-renshe-open opens the chat, data-renshe-ask="问题" opens it and asks.
 *
 * Talks to Rasa's socket.io channel (events session_request / session_confirm / user_uttered /
 * bot_uttered) with session persistence: the session id and a bounded, PII-masked transcript live
 * in localStorage, so a reload shows the history (Rasa does not replay it).
 *
 * Tabs: every tab of the site shares one conversation. The transcript in localStorage is merged
 * (by item id and revision), never overwritten, and the `storage` event shows each tab what the
 * others added. All tabs are in the session's socket.io room, so all receive each answer; every
 * answer names the question it answers (reply_to, the question's item id sent as metadata.web.item),
 * and only the tab that asked that question records it (the others see it through storage).
 * Delivery: a question asked while the bot is unreachable is queued (shown as such) and sent when
 * the connection is back; a question without an answer shows progress, then an error with 重试.
 * Script: 简/繁 switch in the header, sent as metadata.web.script; the server converts (bot/script.py).
 * Sources: each 《title》 of a 来源 line links to /source/<doc_id>?q=<quote> (from custom.citations,
 * else from the /api/sources list of titles).
 *
 * Safety: message text is only ever put into the page with textContent / createTextNode; links are
 * built with createElement('a') for http(s) URLs only. Never innerHTML with message text.
 */
(function () {
  'use strict';
  if (window.RensheWidget) { return; } // why: a page that includes the tag twice gets one widget.

  var script = document.currentScript;
  var scriptSrc = script && script.src ? script.src : location.href;
  var BASE = scriptSrc.replace(/[?#].*$/, '').replace(/[^/]*$/, '');

  var DEFAULTS = {
    socketUrl: location.protocol + '//' + (location.hostname || 'localhost') + ':5005',
    socketPath: '/socket.io/',
    apiUrl: new URL(BASE).origin,
    title: '人社小助手',
    subtitle: '自动问答',
    storagePrefix: 'renshe-widget',
    maxLength: 500,
    historyLimit: 60,
    open: false,
    largeText: false,
    greeting: '您好！我是人社小助手，一个自动问答程序，不是真人。我根据深圳、上海和国家发布的' +
      '人社规划等官方资料回答问题，资料里没有的内容会直接说明。请不要发送身份证号、手机号或银行卡号。',
    suggestions: ['深圳有多少个社保服务网点', '补贴性职业技能培训', '转人工'],
    slowAfterMs: 8000, // "still looking" with the seconds waited, after this long
    typingTimeoutMs: 30000 // then the question is shown as unanswered, with 重试
  };

  var cfg = Object.assign({}, DEFAULTS, window.RensheWidgetConfig || {}, dataConfig(script));
  cfg.maxLength = Math.max(1, Math.min(Number(cfg.maxLength) || 500, 500));

  var KEY_SESSION = cfg.storagePrefix + ':session';
  var KEY_TRANSCRIPT = cfg.storagePrefix + ':transcript';
  var KEY_LARGE = cfg.storagePrefix + ':large-text';
  var KEY_OPEN = cfg.storagePrefix + ':open';
  var KEY_SCRIPT = cfg.storagePrefix + ':script';
  var LOCK_PREFIX = cfg.storagePrefix + ':tab:';
  var TAB = uid();
  var MAX_STORED_TEXT = 2000;

  var REASONS = [
    ['inaccurate', '答案不准确'],
    ['not_answered', '没有回答我的问题'],
    ['unclear', '看不懂'],
    ['outdated', '信息过时'],
    ['other', '其他']
  ];
  var HANDOFF_PROMISE = '工作人员会在工作日回复，回复时间以实际为准';
  // why: "转人工" itself is no use as the message for staff; prefill with the question before it.
  var HANDOFF_REQUEST_RE = /人工|真人|客服|工作人[员員]|[转轉]接/;

  // ---------------------------------------------------------------------------------------------
  // small helpers

  function dataConfig(el) {
    var out = {};
    if (!el || !el.dataset) { return out; }
    var d = el.dataset;
    if (d.socketUrl) { out.socketUrl = d.socketUrl; }
    if (d.socketPath) { out.socketPath = d.socketPath; }
    if (d.apiUrl) { out.apiUrl = d.apiUrl; }
    if (d.title) { out.title = d.title; }
    if (d.open) { out.open = d.open === 'true'; }
    if (d.largeText) { out.largeText = d.largeText === 'true'; }
    return out;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) { return; }
        if (name === 'text') { node.textContent = value; }
        else if (name === 'className') { node.className = value; }
        else { node.setAttribute(name, value === true ? '' : String(value)); }
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function uid() {
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  var storage = (function () {
    // why: private browsing or a full quota must not break the chat; it then just forgets.
    try {
      var probe = cfg.storagePrefix + ':probe';
      window.localStorage.setItem(probe, '1');
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      return null;
    }
  })();

  function load(key, fallback) {
    if (!storage) { return fallback; }
    try {
      var raw = storage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }

  function save(key, value) {
    if (!storage) { return; }
    try { storage.setItem(key, JSON.stringify(value)); } catch (e) { /* quota: keep going */ }
  }

  // Same patterns as bot/sanitize.py (written without look-behind, which older Safari lacks).
  var PII = [
    [/(^|[^0-9A-Za-z])([1-9]\d{5}[ -]?(?:18|19|20)\d{2}[ -]?(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[ -]?\d{3}[0-9Xx])(?![0-9A-Za-z])/g, '[身份证号]'],
    [/(^|\D)([1-9]\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?!\d)/g, '[身份证号]'],
    [/(^|\D)((?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2})(?!\d)/g, '[手机号]'],
    [/(^|\D)((?:\d[ -]?){15,18}\d)(?!\d)/g, '[银行卡号]']
  ];

  var PII_SEP = '[\\s\\-._\u00b7/()]{0,3}';
  var PII_SPAN = new RegExp('(^|\\D)((?:\\+\\s?)?\\d(?:' + PII_SEP + '\\d){6,}(?:' + PII_SEP + '[Xx])?)(?![0-9A-Za-z])', 'g');
  var YEAR_LIST = /^(?:(?:19|20)\d\d[\s\-._\/]+)+(?:19|20)\d\d$/;
  var ID_18 = '[1-9]\\d{5}(?:18|19|20)\\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])\\d{3}[\\dX]';
  var ID_15 = '[1-9]\\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])\\d{3}';

  function kindOfDigits(d) {
    var phone = /^1[3-9]\d{9}$/;
    if ((d.indexOf('0086') === 0 && phone.test(d.slice(4))) || (d.indexOf('86') === 0 && phone.test(d.slice(2)))) {
      return '[手机号]';
    }
    if (phone.test(d)) { return '[手机号]'; }
    if (new RegExp('^(?:' + ID_18 + '|' + ID_15 + ')$').test(d)) { return '[身份证号]'; }
    if (/^\d{16,19}$/.test(d)) { return '[银行卡号]'; }
    if (d.length > 19) {
      if (new RegExp(ID_18).test(d)) { return '[身份证号]'; }
      if (/1[3-9]\d{9}/.test(d)) { return '[手机号]'; }
      return '[银行卡号]';
    }
    return null;
  }

  function maskPII(text) {
    var normalised = String(text || '');
    if (normalised.normalize) { normalised = normalised.normalize('NFKC'); }
    var changed = false;
    PII.forEach(function (rule) {
      normalised = normalised.replace(rule[0], function (_m, lead) {
        changed = true;
        return lead + rule[1];
      });
    });
    // Digit spans joined by dots, underscores, several spaces, +86 ... read as bare digits (bot/sanitize.py).
    normalised = normalised.replace(PII_SPAN, function (whole, lead, span) {
      if (YEAR_LIST.test(span)) { return whole; }
      var mask = kindOfDigits(span.replace(/\D/g, '') + (/[Xx]\s*$/.test(span) ? 'X' : ''));
      if (!mask) { return whole; }
      changed = true;
      return lead + mask;
    });
    return changed ? normalised : String(text || '');
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  function timeLabel(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ''; }
    var now = new Date();
    var hm = pad(d.getHours()) + ':' + pad(d.getMinutes());
    if (d.toDateString() === now.toDateString()) { return hm; }
    return (d.getMonth() + 1) + '月' + d.getDate() + '日 ' + hm;
  }

  // ---------------------------------------------------------------------------------------------
  // rendering of bot text: paragraphs, lists, links, citation (DOM only, no HTML parsing)

  var URL_RE = /https?:\/\/[^\s<>"'，。；、！？（）【】《》「」]+/g;

  function appendInline(parent, text) {
    var last = 0;
    text.replace(URL_RE, function (match, offset) {
      var url = match.replace(/[.,;:!?)\]}'"]+$/, '');
      var safe = null;
      try {
        var parsed = new URL(url);
        if (parsed.protocol === 'http:' || parsed.protocol === 'https:') { safe = parsed.href; }
      } catch (e) { safe = null; }
      if (!safe) { return match; }
      if (offset > last) { parent.appendChild(document.createTextNode(text.slice(last, offset))); }
      parent.appendChild(el('a', { href: safe, target: '_blank', rel: 'noopener noreferrer', text: url }));
      last = offset + url.length;
      return match;
    });
    if (last < text.length) { parent.appendChild(document.createTextNode(text.slice(last))); }
    return parent;
  }

  var BULLET_RE = /^\s*[•·●▪\-]\s+|^\s*[•·●▪]/;
  var NUMBER_RE = /^\s*(\d{1,2})[.、．)]\s*/;
  var SOURCE_RE = /^\s*[来來]源[：:]\s*/; // why: 來源 in answers converted to 繁體
  var NOTE_RE = /^\s*注[：:]/;

  var TITLE_RE = /《([^《》\n]{1,200})》/g;

  /** The source line: each 《title》 becomes a link to its source page when ``linker`` knows it. */
  function appendSources(parent, text, linker) {
    var last = 0;
    var index = 0;
    text.replace(TITLE_RE, function (match, title, offset) {
      var href = linker ? linker(title, index++) : null;
      if (!href) { return match; }
      if (offset > last) { appendInline(parent, text.slice(last, offset)); }
      parent.appendChild(el('a', {
        href: href, target: '_blank', rel: 'noopener', className: 'rw-source-link',
        title: '查看资料原文和引文（新窗口）', text: match
      }));
      last = offset + match.length;
      return match;
    });
    if (last < text.length) { appendInline(parent, text.slice(last)); }
    return parent;
  }

  function titleOf(docId) {
    var list = state.sources || [];
    for (var i = 0; i < list.length; i++) { if (list[i].doc_id === docId) { return list[i]; } }
    return null;
  }

  /** Finds the source page of the ``index``-th 《title》 of ``item``'s source line. */
  function sourceLinker(item) {
    var citations = (item && item.citations) || [];
    var distinct = [];
    citations.forEach(function (c) {
      if (!distinct.some(function (d) { return d.doc_id === c.doc_id; })) { distinct.push(c); }
    });
    var base = cfg.apiUrl.replace(/\/$/, '') + '/source/';
    return function (title, index) {
      var same = function (s) { return s && (s.title === title || s.title_hant === title); };
      // why: by title when the list of sources is known; by position (one title per document) otherwise.
      var hit = citations.filter(function (c) { return same(titleOf(c.doc_id)); })[0] ||
        (state.sources ? null : distinct[index]);
      if (hit) { return base + encodeURIComponent(hit.doc_id) + (hit.quote ? '?q=' + encodeURIComponent(hit.quote) : ''); }
      var doc = (state.sources || []).filter(same)[0];
      return doc ? base + encodeURIComponent(doc.doc_id) : null;
    };
  }

  function renderText(container, text, linker) {
    var list = null;
    var listKind = null;
    var lines = String(text || '').split(/\r?\n/);
    lines.forEach(function (line, index) {
      if (!line.trim()) { list = null; return; }
      var bullet = BULLET_RE.exec(line);
      var number = NUMBER_RE.exec(line);
      if (SOURCE_RE.test(line)) {
        list = null;
        var cite = el('div', { className: 'rw-source', role: 'note', 'aria-label': '信息来源' }, [
          el('span', { className: 'rw-source-label', text: '来源' })
        ]);
        cite.appendChild(appendSources(el('span', { className: 'rw-source-text' }), line.replace(SOURCE_RE, ''), linker));
        container.appendChild(cite);
        return;
      }
      if (bullet || number) {
        var kind = bullet ? 'ul' : 'ol';
        if (!list || listKind !== kind) {
          list = el(kind, { className: 'rw-list' });
          if (kind === 'ol' && number[1] !== '1') { list.setAttribute('start', number[1]); }
          listKind = kind;
          container.appendChild(list);
        }
        list.appendChild(appendInline(el('li'), line.slice((bullet || number)[0].length)));
        return;
      }
      if (NOTE_RE.test(line) && list && list.lastChild) {
        // why: "  注：…" explains the list item above it (a superseded or draft figure).
        list.lastChild.appendChild(appendInline(el('span', { className: 'rw-note' }), line.trim()));
        return;
      }
      list = null;
      // why: knowledge answers open with the topic's name; shown as a lead line it is easy to scan.
      var lead = index === 0 && lines.length > 1 && line.length <= 40 && BULLET_RE.test(lines[1] || '');
      container.appendChild(appendInline(el('p', { className: lead ? 'rw-lead' : null }), line));
    });
    return container;
  }

  // ---------------------------------------------------------------------------------------------
  // state

  var state = {
    sessionId: load(KEY_SESSION, null),
    items: [],
    status: 'connecting',
    socket: null,
    lastQuestion: '',
    tickTimer: null,
    anchor: null,
    turnAnchor: null,
    everConnected: false,
    slow: false, // the last question went unanswered while the socket stayed connected
    outbox: {}, // item id -> the exact text to send (in memory only: never stored unmasked)
    dropped: {}, // ids of answers another tab recorded too (see dropTwins)
    live: null, // ids of the open tabs (Web Locks), refreshed while a question waits; null = unknown
    sources: null, // from /api/sources: [{doc_id, title, title_hant}]
    script: load(KEY_SCRIPT, null) // null: answer in the resident's own script; 'hant' / 'hans': chosen
  };
  if (typeof state.sessionId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(state.sessionId)) {
    state.sessionId = uid();
    save(KEY_SESSION, state.sessionId);
  }
  (function restore() {
    var stored = load(KEY_TRANSCRIPT, null);
    if (stored && stored.sessionId === state.sessionId && Array.isArray(stored.items)) {
      state.items = stored.items.filter(function (m) { return m && typeof m === 'object' && m.id; });
    }
  })();

  function byTime(a, b) { return a.ts < b.ts ? -1 : (a.ts > b.ts ? 1 : 0); }

  function persist() {
    // why: another tab may have saved since we loaded; merge by id (newer revision wins) instead
    // of overwriting its messages with ours.
    var stored = load(KEY_TRANSCRIPT, null);
    if (stored && stored.sessionId === state.sessionId && Array.isArray(stored.items)) {
      absorb(stored.items);
    }
    var items = state.items.slice(-cfg.historyLimit).map(function (m) {
      var copy = Object.assign({}, m);
      copy.text = maskPII(String(m.text || '')).slice(0, MAX_STORED_TEXT);
      if (copy.question) { copy.question = maskPII(copy.question).slice(0, 500); }
      if (copy.send) { copy.send = maskPII(copy.send).slice(0, 500); }
      delete copy.draft;
      return copy;
    });
    state.items = state.items.slice(-cfg.historyLimit);
    save(KEY_TRANSCRIPT, { sessionId: state.sessionId, items: items });
  }

  /** Take in items another tab stored: new ones are inserted in time order, newer revisions replace. */
  function absorb(items) {
    var changed = false;
    items.forEach(function (theirs) {
      if (!theirs || typeof theirs !== 'object' || !theirs.id || state.dropped[theirs.id]) { return; }
      var mine = findItem(theirs.id);
      if (!mine) {
        var at = state.items.length;
        while (at > 0 && byTime(state.items[at - 1], theirs) > 0) { at--; }
        state.items.splice(at, 0, theirs);
        if (ui.log) { showItem(theirs, at); }
        changed = true;
      } else if ((theirs.rev || 0) > (mine.rev || 0)) {
        state.items[state.items.indexOf(mine)] = theirs;
        if (ui.log) { replaceItem(theirs, false, true); }
        changed = true;
      }
    });
    if (changed) { dropTwins(); }
    if (changed && ui.log) { updateWaiting(); }
  }

  /**
   * One answer recorded by two tabs (its question reached the other tab only after the answer did):
   * the same bot text from two tabs within a few seconds. Every tab keeps the one with the smaller
   * id, so all tabs end with the same single copy.
   */
  function dropTwins() {
    var bots = state.items.filter(function (m) { return m.from === 'bot' && m.kind !== 'welcome' && m.tab; });
    bots.forEach(function (a) {
      bots.forEach(function (b) {
        if (a === b || a.tab === b.tab || a.text !== b.text || state.dropped[a.id] || state.dropped[b.id]) { return; }
        if (Math.abs(new Date(a.ts).getTime() - new Date(b.ts).getTime()) > 10000) { return; }
        var loser = a.id < b.id ? b : a;
        state.dropped[loser.id] = true;
        state.items.splice(state.items.indexOf(loser), 1);
        var node = ui.log && ui.log.querySelector('[data-id="' + loser.id + '"]');
        if (node) {
          if (state.turnAnchor === node) { state.turnAnchor = null; }
          if (state.anchor === node) { state.anchor = null; }
          node.parentNode.removeChild(node);
        }
      });
    });
  }

  function showItem(item, at) {
    var next = state.items[at + 1];
    var before = next ? ui.log.querySelector('[data-id="' + next.id + '"]') : null;
    var node = renderItem(item);
    ui.log.insertBefore(node, before);
    if (item.from === 'user') { state.turnAnchor = null; scrollToEnd(); } else { anchorTurn(node); }
  }

  function onStorage(event) {
    if (!storage || event.storageArea !== storage) { return; }
    if (event.key === KEY_SESSION) {
      var id = load(KEY_SESSION, null);
      if (typeof id === 'string' && id !== state.sessionId) { startNewConversation(id, false); }
    } else if (event.key === KEY_TRANSCRIPT) {
      var stored = load(KEY_TRANSCRIPT, null);
      if (stored && stored.sessionId === state.sessionId && Array.isArray(stored.items)) { absorb(stored.items); }
    } else if (event.key === KEY_SCRIPT) {
      state.script = load(KEY_SCRIPT, null);
      showScript();
    } else if (event.key === KEY_LARGE) {
      setLarge(load(KEY_LARGE, false) === true, true);
    }
  }

  /** Calls back with the ids of the tabs still open (Web Locks), or null where the browser cannot tell. */
  function liveTabs(callback) {
    if (!navigator.locks || !navigator.locks.query) { callback(null); return; }
    navigator.locks.query().then(function (snapshot) {
      callback((snapshot.held || []).map(function (l) { return String(l.name || ''); })
        .filter(function (n) { return n.indexOf(LOCK_PREFIX) === 0; })
        .map(function (n) { return n.slice(LOCK_PREFIX.length); }));
    }, function () { callback(null); });
  }

  function holdTabLock() {
    // why: lets other tabs tell whether the tab that queued or sent a question is still open.
    if (navigator.locks && navigator.locks.request) {
      navigator.locks.request(LOCK_PREFIX + TAB, function () { return new Promise(function () {}); })
        .catch(function () { /* no locks: other tabs then treat our items as ours */ });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // DOM skeleton

  var ui = {};

  function icon(pathD, size) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', size || 24);
    svg.setAttribute('height', size || 24);
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('d', pathD);
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }

  var ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z';
  var ICON_CLOSE = 'M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z';
  var ICON_SEND = 'M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z';
  // Material Design icons "thumb_up" / "thumb_down" (Apache License 2.0).
  var ICON_UP = 'M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z';
  var ICON_DOWN = 'M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z';
  var ICON_NEW = 'M12 5a7 7 0 1 1-6.93 8h2.02A5 5 0 1 0 12 7v3L8 6l4-4v3z';

  function build() {
    var root = el('div', { className: 'rw-root', lang: 'zh-CN' });
    ui.root = root;

    ui.launcher = el('button', {
      type: 'button', className: 'rw-launcher', 'aria-expanded': 'false', 'aria-controls': 'rw-panel',
      'aria-label': '打开' + cfg.title + '在线咨询'
    }, [icon(ICON_CHAT, 26), el('span', { className: 'rw-launcher-text', text: '在线咨询' })]);

    ui.statusDot = el('span', { className: 'rw-dot', 'aria-hidden': 'true' });
    ui.statusText = el('span', { className: 'rw-status-text', text: '正在连接…' });
    ui.largeToggle = el('button', {
      type: 'button', className: 'rw-hbtn rw-large-toggle', 'aria-pressed': 'false',
      title: '大字模式（适合老年人）', 'aria-label': '大字模式 A+'
    }, [el('span', { 'aria-hidden': 'true', text: 'A+' })]);
    ui.scriptToggle = el('button', {
      type: 'button', className: 'rw-hbtn rw-script-toggle', 'aria-pressed': 'false',
      title: '繁體回覆（再按一次改回简体）', 'aria-label': '繁體回覆', lang: 'zh-Hant'
    }, [el('span', { 'aria-hidden': 'true', text: '繁' })]);
    ui.newButton = el('button', {
      type: 'button', className: 'rw-hbtn rw-new', title: '清空记录，开始新对话', 'aria-label': '清空记录，开始新对话'
    }, [icon(ICON_NEW, 20)]);
    ui.closeButton = el('button', {
      type: 'button', className: 'rw-hbtn rw-close', title: '关闭', 'aria-label': '关闭对话窗口'
    }, [icon(ICON_CLOSE, 22)]);

    var header = el('div', { className: 'rw-header' }, [
      el('div', { className: 'rw-avatar', 'aria-hidden': 'true', text: '人社' }),
      el('div', { className: 'rw-titles' }, [
        el('h2', { className: 'rw-title', id: 'rw-title', text: cfg.title }),
        el('p', { className: 'rw-status', id: 'rw-status' }, [
          ui.statusDot, ui.statusText, el('span', { className: 'rw-subtitle', text: ' · ' + cfg.subtitle })
        ])
      ]),
      ui.largeToggle, ui.scriptToggle, ui.newButton, ui.closeButton
    ]);

    ui.offline = el('div', { className: 'rw-offline', role: 'alert', hidden: true });
    ui.log = el('div', {
      className: 'rw-log', id: 'rw-log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
      'aria-label': '对话记录', tabindex: '0'
    });
    ui.typingText = el('span', { text: '小助手正在查找资料…' });
    ui.typing = el('div', { className: 'rw-typing', hidden: true, role: 'status' }, [
      el('span', { className: 'rw-typing-dots', 'aria-hidden': 'true' }, [el('i'), el('i'), el('i')]),
      ui.typingText
    ]);
    ui.disclaimerToggle = el('button', {
      type: 'button', className: 'rw-disclaimer-toggle', 'aria-expanded': 'false', 'aria-controls': 'rw-disclaimer',
      text: '展开'
    });
    // why: on a phone the full notice takes two or three lines of a small screen; one line and
    // a 展开 button keep it present (and complete for screen readers) without crowding the answers.
    ui.disclaimer = el('div', { className: 'rw-disclaimer' }, [
      el('p', {
        className: 'rw-disclaimer-text', id: 'rw-disclaimer',
        text: '自动问答，答案来自官方发布的资料，仅供参考，以主管部门最新公布为准。'
      }),
      ui.disclaimerToggle
    ]);

    ui.input = el('textarea', {
      id: 'rw-input', className: 'rw-input', rows: '2', maxlength: String(cfg.maxLength),
      placeholder: '请输入您的问题', 'aria-describedby': 'rw-counter rw-hint', autocomplete: 'off'
    });
    ui.counter = el('span', { className: 'rw-counter', id: 'rw-counter', text: '0/' + cfg.maxLength });
    ui.counterLive = el('span', { className: 'rw-sr-only', 'aria-live': 'polite' });
    ui.send = el('button', { type: 'submit', className: 'rw-send', 'aria-label': '发送' }, [
      icon(ICON_SEND, 20), el('span', { text: '发送' })
    ]);
    ui.form = el('form', { className: 'rw-composer', 'aria-label': '输入问题' }, [
      el('label', { 'for': 'rw-input', className: 'rw-sr-only', text: '输入您的问题' }),
      ui.input,
      el('div', { className: 'rw-composer-bar' }, [
        el('span', { className: 'rw-hint', id: 'rw-hint', text: 'Enter 发送，Shift+Enter 换行' }),
        ui.counter, ui.counterLive, ui.send
      ])
    ]);

    ui.panel = el('section', {
      className: 'rw-panel', id: 'rw-panel', role: 'dialog', 'aria-modal': 'false',
      'aria-labelledby': 'rw-title', 'aria-describedby': 'rw-disclaimer', hidden: true
    }, [
      header,
      ui.offline,
      ui.disclaimer,
      ui.log,
      ui.typing,
      ui.form
    ]);

    root.appendChild(ui.panel);
    root.appendChild(ui.launcher);
    document.body.appendChild(root);

    ui.launcher.addEventListener('click', function () { isOpen() ? close() : open(); });
    ui.closeButton.addEventListener('click', function () { close(); });
    ui.largeToggle.addEventListener('click', function () { setLarge(!ui.root.classList.contains('rw-large')); });
    ui.scriptToggle.addEventListener('click', function () {
      state.script = state.script === 'hant' ? 'hans' : 'hant';
      save(KEY_SCRIPT, state.script);
      showScript();
    });
    ui.disclaimerToggle.addEventListener('click', function () {
      var open = ui.disclaimerToggle.getAttribute('aria-expanded') !== 'true';
      ui.disclaimerToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      ui.disclaimerToggle.textContent = open ? '收起' : '展开';
      ui.disclaimer.classList.toggle('rw-expanded', open);
    });
    ui.newButton.addEventListener('click', clearConversation);
    ui.panel.addEventListener('keydown', function (event) {
      if (event.key === 'Escape') { event.preventDefault(); close(); }
    });
    ui.form.addEventListener('submit', function (event) {
      event.preventDefault();
      var text = ui.input.value;
      if (sendText(text)) {
        ui.input.value = '';
        updateCounter();
      }
      ui.input.focus();
    });
    ui.input.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        // why: keyCode 229 / isComposing = the Chinese IME is still choosing characters.
        event.preventDefault();
        ui.form.requestSubmit ? ui.form.requestSubmit() : ui.send.click();
      }
    });
    ui.input.addEventListener('input', updateCounter);
    document.addEventListener('click', function (event) {
      var trigger = event.target && event.target.closest && event.target.closest('[data-renshe-open],[data-renshe-ask]');
      if (!trigger) { return; }
      event.preventDefault();
      open();
      var question = trigger.getAttribute('data-renshe-ask');
      if (question) { sendText(question); }
    });
  }

  function updateCounter() {
    var length = ui.input.value.length;
    var remaining = cfg.maxLength - length;
    ui.counter.textContent = length + '/' + cfg.maxLength;
    ui.counter.classList.toggle('rw-counter-warn', remaining <= 50);
    // why: announce only at a few thresholds, not on every key press.
    var says = remaining === 0 ? '已达到' + cfg.maxLength + '字上限' : (remaining === 50 || remaining === 10 ? '还可以输入' + remaining + '字' : '');
    if (says) { ui.counterLive.textContent = says; }
    // why: offline too: the question is queued and sent when the connection is back.
    ui.send.disabled = !ui.input.value.trim();
  }

  // ---------------------------------------------------------------------------------------------
  // messages

  function addItem(item, opts) {
    item.id = item.id || uid();
    item.ts = item.ts || new Date().toISOString();
    item.rev = item.rev || 1;
    state.items.push(item);
    var node = renderItem(item);
    ui.log.appendChild(node);
    if (!opts || !opts.noPersist) { persist(); }
    if (item.from === 'user' || item.kind === 'welcome') {
      state.turnAnchor = null;
      scrollToEnd();
    } else {
      anchorTurn(node);
    }
    return item;
  }

  function anchorTurn(node) {
    // why: a long answer must open at its first line (on a phone its end is all that fits), and a
    // form is read from its heading; the first bot message of a turn stays the anchor.
    if (!state.turnAnchor || !state.turnAnchor.isConnected) { state.turnAnchor = node; }
    state.anchor = state.turnAnchor;
    settleScroll();
  }

  /** A changed item: count a revision (tabs keep the newer one), redraw it, store it. */
  function touch(item) {
    item.rev = (item.rev || 1) + 1;
    replaceItem(item, false);
  }

  function scrollToEnd() {
    state.anchor = null;
    settleScroll();
  }

  function settleScroll() {
    function apply() {
      ui.log.scrollTop = state.anchor ? Math.max(0, state.anchor.offsetTop - 8) : ui.log.scrollHeight;
    }
    apply();
    // why: fonts and the typing row can change the height after this frame; settle once more.
    if (window.requestAnimationFrame) { window.requestAnimationFrame(apply); }
  }

  function findItem(id) {
    for (var i = 0; i < state.items.length; i++) { if (state.items[i].id === id) { return state.items[i]; } }
    return null;
  }

  function metaLine(item, who) {
    return el('div', { className: 'rw-meta' }, [
      el('span', { className: 'rw-sr-only', text: who + '，' }),
      el('time', { datetime: item.ts, text: timeLabel(item.ts) })
    ]);
  }

  function renderItem(item) {
    if (item.kind === 'handoff') { return renderHandoff(item); }
    if (item.kind === 'divider') {
      return el('div', { className: 'rw-divider', role: 'separator' }, [el('span', { text: item.text })]);
    }
    var fromBot = item.from === 'bot';
    var wrap = el('div', {
      className: 'rw-msg ' + (fromBot ? 'rw-msg-bot' : 'rw-msg-user') + (item.kind === 'welcome' ? ' rw-msg-welcome' : '') +
        (item.kind === 'staff' ? ' rw-msg-staff' : ''),
      'data-id': item.id
    });
    var bubble = el('div', { className: 'rw-bubble' }, [
      el('span', { className: 'rw-sr-only', text: fromBot ? '小助手说：' : '我说：' })
    ]);
    // why: a person answered, not the bot; the resident must be able to tell them apart.
    if (item.kind === 'staff') { bubble.appendChild(el('p', { className: 'rw-staff-label', text: '工作人员回复' })); }
    if (fromBot) { renderText(bubble, item.text, sourceLinker(item)); } else { bubble.appendChild(el('p', { text: item.text })); }
    wrap.appendChild(bubble);
    if (fromBot && item.buttons && item.buttons.length) { wrap.appendChild(renderButtons(item)); }
    var meta = metaLine(item, fromBot ? '小助手' : '我');
    wrap.appendChild(meta);
    if (!fromBot) { renderDelivery(item, meta); }
    if (fromBot && item.kind !== 'welcome' && item.kind !== 'staff' && item.text) { renderFeedback(item, meta, wrap); }
    return wrap;
  }

  function renderButtons(item) {
    var group = el('div', { className: 'rw-quick', role: 'group', 'aria-label': '可选项' });
    item.buttons.forEach(function (button, index) {
      var b = el('button', {
        type: 'button', className: 'rw-chip', text: button.title, disabled: !!item.used,
        'aria-pressed': item.chosen === index ? 'true' : null
      });
      b.addEventListener('click', function () {
        if (item.used) { return; }
        // why: disable first, synchronously, so a double click cannot send the payload twice.
        var ok = sendText(button.payload, button.title);
        if (!ok) { return; }
        item.used = true;
        item.chosen = index;
        Array.prototype.forEach.call(group.querySelectorAll('button'), function (other) { other.disabled = true; });
        b.setAttribute('aria-pressed', 'true');
        item.rev = (item.rev || 1) + 1;
        persist();
      });
      group.appendChild(b);
    });
    return group;
  }

  function renderFeedback(item, meta, wrap) {
    // why: SVG, not the 👍/👎 emoji, which show as empty boxes on systems without an emoji font.
    var up = el('button', { type: 'button', className: 'rw-thumb rw-thumb-up', 'aria-label': '有帮助', title: '有帮助' }, [
      icon(ICON_UP, 16)
    ]);
    var down = el('button', { type: 'button', className: 'rw-thumb rw-thumb-down', 'aria-label': '没有帮助', title: '没有帮助' }, [
      icon(ICON_DOWN, 16)
    ]);
    var note = el('span', { className: 'rw-thanks', 'aria-live': 'polite' });
    var group = el('span', { className: 'rw-feedback', role: 'group', 'aria-label': '这条回答有帮助吗' }, [up, down, note]);
    meta.appendChild(group);

    function mark(rating) {
      up.setAttribute('aria-pressed', rating === 'up' ? 'true' : 'false');
      down.setAttribute('aria-pressed', rating === 'down' ? 'true' : 'false');
      up.disabled = down.disabled = !!item.rated;
    }
    mark(item.rated || null);
    if (item.rated) { note.textContent = '已反馈'; }

    function submit(rating, reason, comment) {
      up.disabled = down.disabled = true;
      note.textContent = '正在提交…';
      postJSON('/api/feedback', {
        session_id: state.sessionId,
        message_id: item.id,
        rating: rating,
        reason: reason || null,
        comment: comment ? maskPII(comment) : null,
        bot_text: String(item.text || '').slice(0, 4000),
        user_text: item.question ? maskPII(item.question).slice(0, 500) : null
      }).then(function () {
        item.rated = rating;
        item.rev = (item.rev || 1) + 1;
        persist();
        mark(rating);
        note.textContent = rating === 'up' ? '感谢反馈' : '感谢反馈，我们会据此改进回答';
      }, function () {
        up.disabled = down.disabled = false;
        note.textContent = '反馈未能提交，请稍后重试';
      });
    }

    up.addEventListener('click', function () { submit('up'); });
    down.addEventListener('click', function () {
      var existing = wrap.querySelector('.rw-reason');
      if (existing) { existing.querySelector('input,button').focus(); return; }
      down.setAttribute('aria-pressed', 'true');
      var form = reasonForm(function (reason, comment) {
        form.remove();
        submit('down', reason, comment);
        down.focus();
      }, function () {
        form.remove();
        down.setAttribute('aria-pressed', 'false');
        down.focus();
      });
      wrap.appendChild(form);
      form.querySelector('input').focus();
      scrollToEnd();
    });
  }

  function reasonForm(onSubmit, onCancel) {
    var name = 'rw-reason-' + uid().slice(0, 8);
    var legendId = name + '-legend';
    var options = REASONS.map(function (pair) {
      return el('label', { className: 'rw-radio' }, [
        el('input', { type: 'radio', name: name, value: pair[0] }), el('span', { text: pair[1] })
      ]);
    });
    var comment = el('textarea', {
      className: 'rw-reason-text', rows: '2', maxlength: '200', 'aria-label': '补充说明（选填，最多200字）',
      placeholder: '补充说明（选填）'
    });
    var submit = el('button', { type: 'submit', className: 'rw-btn rw-btn-primary', text: '提交反馈' });
    var cancel = el('button', { type: 'button', className: 'rw-btn', text: '取消' });
    var form = el('form', { className: 'rw-reason', 'aria-labelledby': legendId }, [
      el('p', { className: 'rw-reason-title', id: legendId, text: '哪里不满意？（选填）' }),
      el('div', { className: 'rw-radios', role: 'radiogroup', 'aria-labelledby': legendId }, options),
      comment,
      el('div', { className: 'rw-actions' }, [submit, cancel])
    ]);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var chosen = form.querySelector('input[type=radio]:checked');
      onSubmit(chosen ? chosen.value : null, comment.value.trim().slice(0, 200));
    });
    form.addEventListener('keydown', function (event) {
      if (event.key === 'Escape') { event.stopPropagation(); event.preventDefault(); onCancel(); }
    });
    cancel.addEventListener('click', onCancel);
    return form;
  }

  // ---------------------------------------------------------------------------------------------
  // human hand-off: leave a message

  function renderHandoff(item) {
    var titleId = 'rw-handoff-' + item.id;
    var card = el('div', { className: 'rw-handoff', role: 'group', 'aria-labelledby': titleId, 'data-id': item.id }, [
      el('h3', { className: 'rw-handoff-title', id: titleId, text: '留言给工作人员' })
    ]);
    if (item.state === 'sent') {
      card.appendChild(el('p', { text: '留言已提交（编号 ' + item.ref + '），回复将通过您留下的联系方式 ' + item.contact + ' 送达。' + HANDOFF_PROMISE + '。' }));
      return card;
    }
    if (item.state === 'cancelled') {
      card.appendChild(el('p', { text: '您选择了暂不留言。需要时可以再输入“转人工”。' }));
      return card;
    }
    card.appendChild(el('p', {
      className: 'rw-handoff-intro',
      text: '网页端暂无实时人工客服。请留下问题和联系方式，' + HANDOFF_PROMISE + '。'
    }));
    var ids = { name: uid().slice(0, 8), phone: uid().slice(0, 8), email: uid().slice(0, 8), msg: uid().slice(0, 8), consent: uid().slice(0, 8) };
    function field(id, label, control, hint) {
      control.id = 'rw-f-' + id;
      return el('div', { className: 'rw-field' }, [
        el('label', { 'for': control.id, text: label }), control, hint || null
      ]);
    }
    var name = el('input', { type: 'text', name: 'name', maxlength: '50', autocomplete: 'name' });
    var phone = el('input', { type: 'tel', name: 'phone', maxlength: '20', autocomplete: 'tel', inputmode: 'tel' });
    var email = el('input', { type: 'email', name: 'email', maxlength: '254', autocomplete: 'email' });
    var message = el('textarea', { name: 'message', rows: '3', maxlength: '500', required: true });
    message.value = item.question || '';
    var counter = el('span', { className: 'rw-counter', text: message.value.length + '/500' });
    message.addEventListener('input', function () { counter.textContent = message.value.length + '/500'; });
    var consent = el('input', { type: 'checkbox', name: 'consent', required: true, id: 'rw-f-' + ids.consent });
    var error = el('p', { className: 'rw-error', role: 'alert' });
    var submit = el('button', { type: 'submit', className: 'rw-btn rw-btn-primary', text: '提交留言' });
    var cancel = el('button', { type: 'button', className: 'rw-btn', text: '暂不留言' });
    var form = el('form', { className: 'rw-handoff-form', novalidate: true }, [
      field(ids.name, '称呼（选填）', name),
      field(ids.phone, '手机号码', phone),
      field(ids.email, '或电子邮箱', email,
        el('p', { className: 'rw-field-hint', text: '手机号码和电子邮箱至少填写一项。' })),
      field(ids.msg, '留言内容', message, counter),
      el('div', { className: 'rw-consent' }, [
        consent,
        el('label', { 'for': consent.id, text: '我同意保存以上联系方式，仅用于工作人员回复本次留言。' })
      ]),
      el('p', { className: 'rw-field-hint', text: '请勿填写身份证号、银行卡号等敏感信息。联系方式加密保存，列表中只显示部分号码。' }),
      error,
      el('div', { className: 'rw-actions' }, [submit, cancel])
    ]);
    card.appendChild(form);

    function invalid(control, text) {
      [name, phone, email, message, consent].forEach(function (c) { c.removeAttribute('aria-invalid'); });
      if (control) { control.setAttribute('aria-invalid', 'true'); control.focus(); }
      error.textContent = text;
      return false;
    }

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var phoneValue = phone.value.trim();
      var emailValue = email.value.trim();
      if (!phoneValue && !emailValue) { return invalid(phone, '请填写手机号码或电子邮箱，以便工作人员回复您。'); }
      if (phoneValue && !/^\+?[\d\s()（）-]{7,20}$/.test(phoneValue)) { return invalid(phone, '手机号码格式不正确。'); }
      if (emailValue && !/^[^@\s]+@[^@\s]+\.[^@\s]{2,}$/.test(emailValue)) { return invalid(email, '电子邮箱格式不正确。'); }
      if (!message.value.trim()) { return invalid(message, '请填写留言内容。'); }
      if (!consent.checked) { return invalid(consent, '请勾选同意保存联系方式，否则无法提交留言。'); }
      invalid(null, '');
      submit.disabled = true;
      submit.textContent = '正在提交…';
      postJSON('/api/handoff', {
        session_id: state.sessionId,
        name: name.value.trim() || null,
        phone: phoneValue || null,
        email: emailValue || null,
        message: message.value.trim().slice(0, 500),
        consent: consent.checked === true
      }).then(function (body) {
        item.state = 'sent';
        item.ref = String(body.id);
        item.contact = String(body.contact || '');
        item.rev = (item.rev || 1) + 1;
        replaceItem(item, true);
      }, function (problem) {
        submit.disabled = false;
        submit.textContent = '提交留言';
        var target = { phone: phone, email: email, message: message, consent: consent, contact: phone }[problem && problem.field];
        invalid(target || null, problem && problem.field ? '请检查填写的内容后重试。' : '提交失败，请检查网络后重试。');
      });
    });
    cancel.addEventListener('click', function () {
      item.state = 'cancelled';
      item.rev = (item.rev || 1) + 1;
      replaceItem(item, true);
    });
    return card;
  }

  function replaceItem(item, focus, noPersist) {
    var old = ui.log.querySelector('[data-id="' + item.id + '"]');
    var fresh = renderItem(item);
    if (old) {
      if (state.turnAnchor === old) { state.turnAnchor = fresh; }
      if (state.anchor === old) { state.anchor = fresh; }
      old.parentNode.replaceChild(fresh, old);
    }
    if (!noPersist) { persist(); }
    if (focus) {
      fresh.setAttribute('tabindex', '-1');
      fresh.focus();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // network

  function postJSON(path, body) {
    return fetch(cfg.apiUrl.replace(/\/$/, '') + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'omit',
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok || !data.ok) { return Promise.reject(data || {}); }
        return data;
      });
    });
  }

  function setStatus(status) {
    state.status = status;
    var shown = status === 'online' && state.slow ? 'slow' : status;
    ui.root.setAttribute('data-status', shown);
    var labels = { online: '在线', slow: '回复缓慢', connecting: '正在连接…', offline: '离线' };
    ui.statusText.textContent = labels[shown] || shown;
    if (status === 'offline') {
      ui.offline.hidden = false;
      ui.offline.textContent = state.everConnected
        ? '连接已断开，正在自动重新连接…对话记录已保留；现在提问会先保存，恢复后自动发送。'
        : '暂时无法连接到小助手，正在自动重试…现在提问会先保存，连接后自动发送。';
      failInFlight('连接中断，这个问题可能没有收到回答');
    } else {
      ui.offline.hidden = true;
      ui.offline.textContent = '';
    }
    updateCounter();
  }

  function connect() {
    if (typeof window.io !== 'function') {
      var loader = document.createElement('script');
      loader.src = BASE + 'vendor/socket.io.min.js';
      loader.onload = connect;
      loader.onerror = function () { setStatus('offline'); };
      document.head.appendChild(loader);
      return;
    }
    var socket = window.io(cfg.socketUrl, {
      path: cfg.socketPath,
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      timeout: 10000
    });
    state.socket = socket;
    socket.on('connect', function () {
      setStatus('connecting');
      socket.emit('session_request', { session_id: state.sessionId });
    });
    socket.on('session_confirm', function (sessionId) {
      var confirmed = typeof sessionId === 'string' ? sessionId : (sessionId && sessionId.session_id);
      if (confirmed && confirmed !== state.sessionId) {
        state.sessionId = confirmed;
        save(KEY_SESSION, confirmed);
        persist();
      }
      state.everConnected = true;
      setStatus('online');
      flushQueue();
      fetchStaffReplies();
    });
    socket.on('connect_error', function () { setStatus('offline'); });
    socket.on('disconnect', function () { setStatus('offline'); });
    socket.on('bot_uttered', onBotMessage);
  }

  function lastUser() {
    for (var i = state.items.length - 1; i >= 0; i--) {
      var item = state.items[i];
      if (item.from === 'user' && item.delivery !== 'queued') { return item; }
    }
    return null;
  }

  /** Whether this tab records the bot message just received (see "Tabs" at the top). */
  function mine() {
    return askedHere(lastUser());
  }

  /** Whether this tab records the answers to ``asker`` (a question item, or null). */
  function askedHere(asker) {
    // why: a tab that has been closed (or reloaded) cannot record the answer to its question.
    var gone = asker && state.live !== null && state.live.indexOf(asker.tab) < 0;
    return !asker || !asker.tab || asker.tab === TAB || gone;
  }

  /**
   * The question an answer replies to, by its reply_to id; undefined when the server names none
   * (then the latest question counts), null when it names a question this tab has not seen yet:
   * another tab asked it, and that tab records the answer.
   */
  function repliedQuestion(data) {
    if (typeof data.reply_to !== 'string' || !data.reply_to) { return undefined; }
    var item = findItem(data.reply_to);
    return item && item.from === 'user' ? item : null;
  }

  function refreshLive() {
    liveTabs(function (live) { state.live = live; });
  }

  function lastBotItem() {
    for (var i = state.items.length - 1; i >= 0; i--) {
      var item = state.items[i];
      if (item.from === 'user') { return null; }
      if (item.from === 'bot' && item.kind !== 'handoff' && item.kind !== 'welcome') { return item; }
    }
    return null;
  }

  function cleanCitations(list) {
    if (!Array.isArray(list)) { return null; }
    var out = list.filter(function (c) { return c && typeof c.doc_id === 'string' && /^[0-9A-Za-z_-]{1,16}$/.test(c.doc_id); })
      .slice(0, 10).map(function (c) {
        return {
          doc_id: c.doc_id,
          quote: typeof c.quote === 'string' ? c.quote.slice(0, 500) : '',
          section: typeof c.section === 'string' ? c.section.slice(0, 200) : ''
        };
      });
    return out.length ? out : null;
  }

  // Staff replies written while the resident was away (the hand-off queue keeps them in the app DB).
  function fetchStaffReplies() {
    postJSON('/api/replies', { session_id: state.sessionId }).then(function (data) {
      (Array.isArray(data.replies) ? data.replies : []).forEach(function (r) {
        if (r && typeof r.text === 'string' && r.text) { addItem({ from: 'bot', kind: 'staff', text: r.text.slice(0, 2000) }); }
      });
    }, function () { /* why: the website API may be absent on an embedding site; the chat still works. */ });
  }

  function onBotMessage(data) {
    if (!data || typeof data !== 'object') { return; }
    if (data.staff === true && typeof data.text === 'string' && data.text) {
      // why: a staff reply from the hand-off queue; the tab that asked records it like an answer.
      if (mine()) { addItem({ from: 'bot', kind: 'staff', text: data.text }); }
      return;
    }
    var asker = repliedQuestion(data);
    if (asker === undefined) { asker = lastUser(); }
    // why: the tab that asked records it; this tab sees it through storage.
    if (asker === null) { return; }
    if (asker && asker.tab && asker.tab !== TAB) {
      // why: record another tab's answer only when that tab is closed, asked now: a list of open
      // tabs taken before that tab opened would call it closed, and both tabs would record.
      liveTabs(function (live) {
        state.live = live;
        if (live !== null && live.indexOf(asker.tab) < 0) { recordAnswer(data, asker); }
      });
      return;
    }
    recordAnswer(data, asker);
  }

  function recordAnswer(data, asker) {
    if (asker && asker.delivery === 'sent') {
      asker.delivery = 'answered';
      touch(asker);
    }
    if (state.slow) { state.slow = false; setStatus(state.status); }
    updateWaiting();
    var custom = data.custom && typeof data.custom === 'object' ? data.custom : data;
    if (custom.handoff === true) {
      addItem({ kind: 'handoff', from: 'bot', state: 'open', question: state.lastQuestion });
      var first = ui.log.lastChild && ui.log.lastChild.querySelector('input,textarea');
      if (first && isOpen()) { first.focus({ preventScroll: true }); }
      return;
    }
    var citations = cleanCitations(custom.citations);
    var text = typeof data.text === 'string' ? data.text : '';
    if (citations && !text) {
      // why: Rasa sends a message's custom JSON as a separate event after its text.
      var answer = lastBotItem();
      if (answer) { answer.citations = citations; touch(answer); }
      return;
    }
    var raw = Array.isArray(data.quick_replies) ? data.quick_replies : (Array.isArray(data.buttons) ? data.buttons : []);
    var buttons = raw.filter(function (b) {
      return b && typeof b.title === 'string' && (typeof b.payload === 'string' || typeof b.payload === 'number');
    }).slice(0, 10).map(function (b) { return { title: b.title.slice(0, 100), payload: String(b.payload).slice(0, 100) }; });
    if (!text && !buttons.length) { return; }
    addItem({
      from: 'bot', tab: TAB, text: text, buttons: buttons, question: state.lastQuestion, citations: citations || undefined
    });
  }

  /** Ask ``text`` (shown as ``shownAs``): sent now when connected, else queued until the connection is back. */
  function sendText(text, shownAs) {
    var message = String(text || '').trim().slice(0, cfg.maxLength);
    if (!message) { return false; }
    var shown = maskPII(shownAs || message);
    if (!HANDOFF_REQUEST_RE.test(shown)) { state.lastQuestion = shown; }
    var item = { from: 'user', text: shown, tab: TAB, delivery: 'queued' };
    if (shownAs) { item.send = message; } // a quick reply: the payload, not the title, goes to Rasa
    addItem(item, { noPersist: true });
    state.outbox[item.id] = message;
    if (connected()) { deliver(item); } else { persist(); replaceItem(item, false, true); }
    return true;
  }

  function connected() { return state.status === 'online' && state.socket && state.socket.connected; }

  function deliver(item) {
    var message = state.outbox[item.id] || item.send || item.text;
    item.tab = TAB;
    item.delivery = 'sent';
    item.sentAt = new Date().toISOString();
    delete item.failure;
    // why: stored before it is sent, so the other tabs know the question before its answer arrives.
    touch(item);
    state.socket.emit('user_uttered', {
      message: message,
      session_id: state.sessionId,
      metadata: { web: { script: state.script || 'auto', item: item.id } }
    });
    updateWaiting();
    scrollToEnd();
  }

  function retry(item) {
    item.tab = TAB;
    if (connected()) { deliver(item); return; }
    item.delivery = 'queued';
    delete item.failure;
    touch(item);
  }

  /** Send, in order, the questions queued by this tab (or by a tab that has been closed since). */
  function flushQueue() {
    liveTabs(function (live) {
      state.items.filter(function (item) {
        if (item.from !== 'user' || item.delivery !== 'queued') { return false; }
        return item.tab === TAB || !item.tab || (live !== null && live.indexOf(item.tab) < 0);
      }).forEach(function (item) { if (connected()) { deliver(item); } });
    });
  }

  function failInFlight(reason) {
    state.items.forEach(function (item) {
      if (item.from === 'user' && item.delivery === 'sent' && item.tab === TAB) {
        item.delivery = 'failed';
        item.failure = reason;
        touch(item);
      }
    });
    updateWaiting();
  }

  function renderDelivery(item, meta) {
    if (item.delivery === 'queued') {
      meta.appendChild(el('span', { className: 'rw-delivery', text: '等待连接，恢复后自动发送' }));
    } else if (item.delivery === 'failed') {
      var again = el('button', { type: 'button', className: 'rw-retry', text: '重试', 'aria-label': '重试：' + item.text.slice(0, 40) });
      again.addEventListener('click', function () { retry(item); });
      meta.appendChild(el('span', { className: 'rw-delivery rw-delivery-failed', role: 'alert' }, [
        el('span', { text: (item.failure || '小助手没有及时回复') + '。' }), again
      ]));
    }
  }

  /** The question still waiting for its answer (asked in any tab), or null. */
  function waitingItem() {
    var item = lastUser();
    return item && item.delivery === 'sent' ? item : null;
  }

  function updateWaiting() {
    var item = waitingItem();
    clearTimeout(state.tickTimer);
    if (!item) {
      ui.typing.hidden = true;
      return;
    }
    var waited = Date.now() - new Date(item.sentAt).getTime();
    if (isNaN(waited)) { waited = 0; }
    if (waited >= cfg.typingTimeoutMs) {
      if (item.tab === TAB) {
        item.delivery = 'failed';
        item.failure = state.status === 'online' ? '小助手暂时没有回复，可能是系统繁忙' : '连接中断，这个问题可能没有收到回答';
        state.slow = state.status === 'online';
        touch(item);
        setStatus(state.status);
        ui.typing.hidden = true;
        return;
      }
      // another tab's question: that tab marks it; if the tab is gone, its question stays unanswered
      liveTabs(function (live) {
        if (live !== null && live.indexOf(item.tab) < 0 && item.delivery === 'sent') {
          item.tab = TAB;
          updateWaiting();
        }
      });
    }
    if (item.tab !== TAB) { refreshLive(); }
    var wasHidden = ui.typing.hidden;
    ui.typing.hidden = false;
    var seconds = Math.floor(waited / 1000);
    // why: one sentence for the first seconds; then how long it has been, so a slow bot is not
    // mistaken for a hung page (updated every few seconds, not every second, for screen readers).
    ui.typingText.textContent = waited < cfg.slowAfterMs
      ? '小助手正在查找资料…'
      : '仍在查找资料，请稍候…已等待 ' + Math.max(Math.floor(cfg.slowAfterMs / 1000), seconds - seconds % 5) + ' 秒';
    if (wasHidden) { scrollToEnd(); }
    state.tickTimer = setTimeout(updateWaiting, Math.min(1000, Math.max(50, cfg.typingTimeoutMs - waited)));
  }

  function hideTyping() {
    clearTimeout(state.tickTimer);
    ui.typing.hidden = true;
  }

  // ---------------------------------------------------------------------------------------------
  // open / close / large text / clear

  function isOpen() { return !ui.panel.hidden; }

  function open() {
    ui.panel.hidden = false;
    ui.root.classList.add('rw-open');
    ui.launcher.setAttribute('aria-expanded', 'true');
    ui.launcher.setAttribute('aria-label', '关闭' + cfg.title);
    save(KEY_OPEN, true);
    if (!state.items.length) { welcome(); }
    scrollToEnd();
    ui.input.focus();
  }

  function close() {
    ui.panel.hidden = true;
    ui.root.classList.remove('rw-open');
    ui.launcher.setAttribute('aria-expanded', 'false');
    ui.launcher.setAttribute('aria-label', '打开' + cfg.title + '在线咨询');
    save(KEY_OPEN, false);
    ui.launcher.focus();
  }

  function setLarge(on, fromOtherTab) {
    ui.root.classList.toggle('rw-large', on);
    ui.largeToggle.setAttribute('aria-pressed', on ? 'true' : 'false');
    if (!fromOtherTab) { save(KEY_LARGE, on); }
  }

  function showScript() {
    ui.scriptToggle.setAttribute('aria-pressed', state.script === 'hant' ? 'true' : 'false');
  }

  function welcome() {
    // why: a fixed id per conversation, so two tabs opening at once show one greeting, not two.
    if (findItem('welcome-' + state.sessionId)) { return; }
    addItem({
      id: 'welcome-' + state.sessionId, ts: new Date(0).toISOString(),
      from: 'bot', kind: 'welcome', text: cfg.greeting,
      buttons: (cfg.suggestions || []).slice(0, 5).map(function (s) { return { title: String(s), payload: String(s) }; })
    });
  }

  function clearConversation() {
    startNewConversation(uid(), true);
    ui.input.focus();
  }

  /** Switch to conversation ``sessionId``: ours (``own``: we store it) or one another tab started. */
  function startNewConversation(sessionId, own) {
    state.items = [];
    state.outbox = {};
    state.dropped = {};
    state.sessionId = sessionId;
    state.lastQuestion = '';
    state.slow = false;
    var online = state.socket && state.socket.connected;
    if (own) {
      // why: connected, the server issues the new conversation's signed id and session_confirm stores it;
      // storing a local id first would send the other tabs off to ask for sessions of their own.
      if (!online) { save(KEY_SESSION, state.sessionId); }
      save(KEY_TRANSCRIPT, { sessionId: state.sessionId, items: [] });
    }
    while (ui.log.firstChild) { ui.log.removeChild(ui.log.firstChild); }
    hideTyping();
    if (online) {
      setStatus('connecting');
      state.socket.emit('session_request', own ? {} : { session_id: state.sessionId });
    } else {
      setStatus(state.status);
    }
    if (own || isOpen()) { welcome(); }
  }

  function renderHistory() {
    if (!state.items.length) { return; }
    var last = state.items[state.items.length - 1];
    state.items.forEach(function (item) {
      // why: options of older turns no longer match what the bot remembers; only the last stays live.
      if (item !== last && item.buttons && item.buttons.length) { item.used = true; }
      if (item.from === 'user' && !HANDOFF_REQUEST_RE.test(item.text)) { state.lastQuestion = item.text; }
      ui.log.appendChild(renderItem(item));
    });
    ui.log.appendChild(el('div', { className: 'rw-divider', role: 'separator' }, [
      el('span', { text: '以上是之前的对话记录' })
    ]));
  }

  function loadStyles() {
    if (cfg.css === false || document.querySelector('link[data-renshe-widget-css]')) { return; }
    var link = el('link', { rel: 'stylesheet', href: BASE + 'widget.css', 'data-renshe-widget-css': true });
    document.head.appendChild(link);
  }

  function loadSources() {
    // why: answers name their sources by title; this list turns a title into its source page.
    fetch(cfg.apiUrl.replace(/\/$/, '') + '/api/sources', { credentials: 'omit' }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (body) {
      if (!body || !Array.isArray(body.sources)) { return; }
      state.sources = body.sources.filter(function (s) { return s && typeof s.doc_id === 'string' && typeof s.title === 'string'; });
      state.items.forEach(function (item) {
        if (item.from === 'bot' && /[来來]源[：:]/.test(item.text || '')) { replaceItem(item, false, true); }
      });
    }, function () { /* no list: titles stay plain text */ });
  }

  function fitVisualViewport() {
    // why: on phones the on-screen keyboard shrinks only the visual viewport; without this the
    // input and the last lines of the chat sit under the keyboard.
    var vv = window.visualViewport;
    if (!vv) { return; }
    function fit() {
      var small = window.matchMedia && window.matchMedia('(max-width: 520px)').matches;
      ui.panel.style.height = small ? Math.round(vv.height) + 'px' : '';
      ui.root.style.top = small && isOpen() ? Math.round(vv.offsetTop) + 'px' : '';
      if (state.anchor) { settleScroll(); }
    }
    vv.addEventListener('resize', fit);
    vv.addEventListener('scroll', fit);
    fit();
  }

  function init() {
    loadStyles();
    build();
    setLarge(load(KEY_LARGE, !!cfg.largeText) === true, true);
    showScript();
    holdTabLock();
    refreshLive();
    renderHistory();
    window.addEventListener('storage', onStorage);
    setStatus('connecting');
    connect();
    loadSources();
    fitVisualViewport();
    updateWaiting();
    if (cfg.open || load(KEY_OPEN, false) === true) { open(); }
  }

  window.RensheWidget = {
    open: function () { open(); },
    close: function () { close(); },
    ask: function (text) { open(); return sendText(text); },
    clear: function () { clearConversation(); },
    status: function () { return state.status; },
    sessionId: function () { return state.sessionId; },
    _maskPII: maskPII,
    _renderText: function (text, citations) {
      return renderText(document.createElement('div'), text, sourceLinker({ citations: cleanCitations(citations) }));
    }
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
