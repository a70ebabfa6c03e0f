/* The handheld's offline side (issue 16): one queue of floor actions in IndexedDB,
 * the work downloaded ahead, the sync on reconnect, the service worker.
 *
 * window.WmsOffline:
 *   enqueue(kind, data, key?)  keep an action (its own key, the user, the device,
 *                              its order on the device and the time on the floor)
 *   pending()                  the current user's queued actions, in order
 *   sync()                     send them in batches to the sync endpoint; each is
 *                              answered on its own (applied / already / refused)
 *   download(claim)            refresh the tasks kept on the device (claim: take
 *                              the picker's next tasks first)
 *   work()                     the tasks kept on the device (not done here yet)
 *   check(task, what, code)    a scan checked on the device: null or the refusal
 *
 * Settings come from <body data-*> (handheld/base.html), words from i18n.js.
 * No dependency: IndexedDB, fetch and the Cache API of the browser. */
(function () {
  "use strict";
  var cfg = document.body.dataset;
  var USER = cfg.userId ? Number(cfg.userId) : null;
  // Entries per request: the server applies a batch in one transaction (its locks
  // once, its writes in a few round trips), so fewer, larger requests sync faster;
  // at most the server's MAX_BATCH (500). window.WMS_SYNC_BATCH overrides (tests).
  var BATCH = 250;

  function word(name, args) {
    var text = (window.WMS_WORDS || {})[name] || name;
    Object.keys(args || {}).forEach(function (k) { text = text.split("%(" + k + ")s").join(String(args[k])); });
    return text;
  }

  // --- IndexedDB ------------------------------------------------------------------
  var opening = null;
  function db() {
    if (!opening) {
      opening = new Promise(function (resolve, reject) {
        var req = indexedDB.open("wms-handheld", 1);
        req.onupgradeneeded = function () {
          var d = req.result;
          d.createObjectStore("queue", {keyPath: "key"});
          d.createObjectStore("work", {keyPath: "id"});
          d.createObjectStore("meta", {keyPath: "k"});
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return opening;
  }
  /* Run fn(stores...) in one transaction; resolves with fn's value once committed
   * (an IDBRequest's result, if fn returns one). */
  function run(names, mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var t = d.transaction(names, mode);
        var out = fn.apply(null, names.map(function (n) { return t.objectStore(n); }));
        t.oncomplete = function () { resolve(out instanceof IDBRequest ? out.result : out); };
        t.onerror = t.onabort = function () { reject(t.error); };
      });
    });
  }
  function all(name) { return run([name], "readonly", function (s) { return s.getAll(); }); }
  function newKey() {
    return (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now()).replace(/-/g, "");
  }

  function deviceId() {
    return run(["meta"], "readwrite", function (meta) {
      var box = {};
      meta.get("device").onsuccess = function (ev) {
        if (ev.target.result) { box.id = ev.target.result.v; return; }
        box.id = newKey();
        meta.put({k: "device", v: box.id});
      };
      return box;
    }).then(function (box) { return box.id; });
  }

  /* Keep one action. Its sequence number comes from the same transaction, so the
   * device's order is the order things happened (whatever its clock says). */
  function enqueue(kind, data, key) {
    return deviceId().then(function (device) {
      return run(["meta", "queue"], "readwrite", function (meta, queue) {
        var entry = {key: key || newKey(), kind: kind, user: USER, device: device,
                     happenedAt: new Date().toISOString(), data: data};
        meta.get("seq").onsuccess = function (ev) {
          entry.seq = (ev.target.result ? ev.target.result.v : 0) + 1;
          meta.put({k: "seq", v: entry.seq});
          queue.put(entry);
        };
        return entry;
      });
    }).then(function (entry) { markDone(entry); show(); return entry; });
  }

  function pending() {
    return all("queue").then(function (rows) {
      return rows.filter(function (e) { return e.user === USER; }).sort(function (a, b) { return a.seq - b.seq; });
    });
  }

  // --- what the picker sees -----------------------------------------------------------
  function el(id) { return document.getElementById(id); }
  function show() {
    var banner = el("offline-pending");
    if (!banner || USER === null) { return Promise.resolve(0); }
    return pending().then(function (rows) {
      var n = rows.length;
      banner.hidden = n === 0;
      banner.className = "flash warning";
      banner.textContent = n === 1 ? word("pendingOne") : word("pendingMany", {n: n});
      return n;
    });
  }
  function say(kind, text, testid) {
    var box = el("offline-report") || el("feedback");
    if (!box) { return; }
    var p = document.createElement("p");
    p.className = "flash " + kind;
    p.setAttribute("role", kind === "error" ? "alert" : "status");
    p.dataset.testid = testid || "flash-" + kind;
    p.textContent = text;
    box.appendChild(p);
  }
  function report(tally, refused) {
    var box = el("offline-report");
    if (box) { box.innerHTML = ""; }
    if (tally.applied) { say("success", word("sent", {n: tally.applied}), "sync-sent"); }
    if (tally.already) { say("info", word("alreadySent", {n: tally.already}), "sync-already"); }
    if (refused.length) {
      say("error", word("refused", {n: refused.length}), "sync-refused");
      refused.forEach(function (r) {
        var text = word("refusedOne", {what: word("kind." + r.kind), why: r.message});
        say("error", r.conflict ? text + " " + word("conflict") : text, "sync-refused-entry");
      });
      if (navigator.vibrate) { navigator.vibrate([120, 60, 120]); }
    }
  }

  // --- sync -----------------------------------------------------------------------------
  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (m) { return decodeURIComponent(m[1]); }
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  var syncing = null;
  function sync() {
    if (USER === null || !cfg.syncUrl) { return Promise.resolve(null); }
    if (syncing) { return syncing; }
    var tally = {applied: 0, already: 0};
    var refused = [];
    syncing = Promise.all([deviceId(), pending()]).then(function (got) {
      var device = got[0], rows = got[1];
      if (!rows.length) { return null; }
      var banner = el("offline-pending");
      if (banner) { banner.textContent = word("syncing", {n: rows.length}); }
      function next(start) {
        var size = window.WMS_SYNC_BATCH || BATCH;
        var batch = rows.slice(start, start + size);
        if (!batch.length) { return Promise.resolve(tally); }
        return fetch(cfg.syncUrl, {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf()},
          body: JSON.stringify({deviceId: device, pending: rows.length - start, entries: batch})
        }).then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            if (!r.ok) {
              say("error", r.status === 401 ? word("loggedOut") : (body.detail || "HTTP " + r.status), "sync-problem");
              return null;
            }
            return settle(body.results || []).then(function () { return next(start + size); });
          });
        });
      }
      function settle(results) {
        return run(["queue"], "readwrite", function (queue) {
          results.forEach(function (res) {
            queue.delete(res.key);
            var entry = rows.find(function (e) { return e.key === res.key; }) || {};
            if (res.status === "applied") { tally.applied += 1; }
            else if (res.status === "already_applied") { tally.already += 1; }
            else { refused.push({kind: entry.kind, message: res.message, conflict: res.conflict, code: res.code}); }
          });
        });
      }
      return next(0);
    }).catch(function () {
      return null; // the network dropped again: what was not answered stays queued
    }).then(function (done) {
      syncing = null;
      if (tally.applied || tally.already || refused.length) {
        report(tally, refused);
        document.dispatchEvent(new CustomEvent("wms:synced", {detail: {tally: tally, refused: refused}}));
      }
      return show().then(function (left) {
        if (done && !left && !refused.length && document.body.dataset.afterFlush === "queue" && cfg.queueUrl) {
          window.location = cfg.queueUrl;
        }
        return {tally: tally, refused: refused, left: left};
      });
    });
    return syncing;
  }

  // --- work downloaded ahead ---------------------------------------------------------
  function markDone(entry) {
    var id = entry.data && entry.data.taskId;
    if (!id) { return Promise.resolve(); }
    var prefix = entry.kind.indexOf("putaway.") === 0 ? "putaway:" : "pick:";
    return run(["work"], "readwrite", function (work) {
      work.get(prefix + id).onsuccess = function (ev) {
        var task = ev.target.result;
        if (task) { task.done = true; work.put(task); }
      };
    });
  }
  function download(claim, warehouse) {
    if (USER === null || !cfg.workUrl) { return Promise.resolve(null); }
    var options = {credentials: "same-origin", headers: {"Accept": "application/json"}};
    if (claim) {
      options.method = "POST";
      options.headers["X-CSRFToken"] = csrf();
      options.body = new URLSearchParams({warehouse: warehouse || ""});
    }
    return Promise.all([fetch(cfg.workUrl, options).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }), pending()]).then(function (got) {
      var data = got[0], queued = got[1];
      var done = {};
      queued.forEach(function (e) { if (e.data.taskId) { done[String(e.data.taskId)] = true; } });
      return run(["work"], "readwrite", function (work) {
        work.clear();
        data.picks.forEach(function (t) {
          work.put(Object.assign({}, t, {id: "pick:" + t.id, taskId: t.id, type: "pick", user: data.user, done: !!done[t.id]}));
        });
        data.putaways.forEach(function (t) {
          work.put(Object.assign({}, t, {id: "putaway:" + t.id, taskId: t.id, type: "putaway", user: data.user, done: !!done[String(t.id)]}));
        });
        return data;
      });
    }).then(function (data) {
      document.dispatchEvent(new CustomEvent("wms:work", {detail: data}));
      return data;
    });
  }
  function work() {
    return all("work").then(function (rows) {
      return rows.filter(function (t) { return t.user === USER && !t.done; });
    });
  }
  function check(task, what, code) {
    code = (code || "").trim();
    if (what === "location" && task.locationCodes.indexOf(code) < 0) {
      return word("wrongLocation", {scanned: code || "—", location: task.location});
    }
    if (what === "item" && task.itemCodes.indexOf(code) < 0) {
      return word("wrongItem", {scanned: code || "—", sku: task.sku});
    }
    return null;
  }

  // --- the confirm forms of the online pages ---------------------------------------------
  /* A form marked data-offline-kind is sent as usual (fetch, JSON answer; with
   * data-offline-mode="fallback" a plain post); when the network is down it is
   * kept in the queue under its own client_key. */
  function bindForms() {
    document.querySelectorAll("form[data-offline-kind]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (form.dataset.offlineMode === "fallback" && navigator.onLine) { return; }
        ev.preventDefault();
        var data = new URLSearchParams(new FormData(form));
        if (ev.submitter && ev.submitter.name) { data.set(ev.submitter.name, ev.submitter.value); }
        var kinds = JSON.parse(form.dataset.offlineKind);
        var kind = typeof kinds === "string" ? kinds : kinds[data.get("action")];
        function enable() { form.querySelectorAll("button").forEach(function (b) { b.disabled = false; }); }
        function keep() {
          var fields = JSON.parse(form.dataset.offlineFields || "{}");
          var entry = {};
          Object.keys(fields).forEach(function (k) { entry[k] = fields[k]; });
          data.forEach(function (value, name) {
            if (["csrfmiddlewaretoken", "client_key", "action"].indexOf(name) < 0) { entry[name] = value; }
          });
          return enqueue(kind, entry, data.get("client_key")).then(function () {
            form.querySelectorAll("input, button, select").forEach(function (x) { x.disabled = true; });
            // A pick kept this way: back to the picker's queue once it is sent.
            if (kind.indexOf("pick.") === 0) { document.body.dataset.afterFlush = "queue"; }
          });
        }
        if (!navigator.onLine) { keep(); return; }
        fetch(form.getAttribute("action") || window.location.href, {
          method: "POST", credentials: "same-origin", body: data,
          headers: {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        }).then(function (r) {
          return r.json().catch(function () { return {ok: false, message: "HTTP " + r.status}; });
        }).then(function (body) {
          if (body.ok) { window.location = body.redirect; return; }
          var feedback = el("feedback");
          if (feedback) { feedback.innerHTML = ""; }
          say("error", body.message || "?");
          if (navigator.vibrate) { navigator.vibrate([120, 60, 120]); }
          enable();
        }).catch(keep);
      });
    });
  }

  // --- the shell -------------------------------------------------------------------------
  function registerWorker() {
    if (!("serviceWorker" in navigator) || !cfg.swUrl) { return; }
    navigator.serviceWorker.register(cfg.swUrl, {scope: cfg.scope}).catch(function () {});
    if (USER === null || !window.caches || !navigator.onLine) { return; }
    // Keep the pages a restarted handheld needs without network (the worker keeps
    // every page as it is visited; these even if they were not).
    var urls = (cfg.warm || "").split(" ").filter(Boolean);
    caches.open("wms-handheld-pages").then(function (cache) {
      urls.forEach(function (url) { cache.add(new Request(url, {credentials: "same-origin"})).catch(function () {}); });
    });
  }

  // --- changes pushed by the server ------------------------------------------------------
  /* A page marked data-live-reload reloads when the server pushes a change that
   * concerns it (tasking.push: committed outbox events), unless a scan is being
   * typed: then it reloads once the field is left empty. */
  function listen() {
    if (!cfg.eventsUrl || !window.EventSource || !document.querySelector("[data-live-reload]")) { return; }
    var source = new EventSource(cfg.eventsUrl);
    source.addEventListener("open", function () { document.body.dataset.live = "open"; });
    source.addEventListener("change", function () {
      var active = document.activeElement;
      if (active && active.tagName === "INPUT" && active.value) { return; }
      source.close();
      window.location.reload();
    });
  }

  window.WmsOffline = {enqueue: enqueue, pending: pending, sync: sync, download: download,
                       work: work, check: check, show: show, deviceId: deviceId, word: word};

  registerWorker();
  bindForms();
  listen();
  window.addEventListener("online", function () { say("info", word("online"), "net-online"); sync(); });
  window.addEventListener("offline", function () { say("warning", word("offline"), "net-offline"); });
  if (USER !== null) {
    show();
    if (navigator.onLine) {
      sync().then(function () { return download(false); }).catch(function () {});
    }
    // Wi-Fi that comes and goes does not always fire "online": try again now and then.
    setInterval(function () { if (navigator.onLine) { sync(); } }, 20000);
  }
})();
