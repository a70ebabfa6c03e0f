/* The offline work page (templates/tasking/offline/work.html): the tasks kept on the
 * device, worked step by step like the online pages (location → item → quantity;
 * put-away: the destination), every scan checked here, every confirmation kept in
 * the device's queue (WmsOffline) and sent when the network is there. */
(function () {
  "use strict";
  var W = window.WmsOffline;
  if (!W) { return; }
  function el(id) { return document.getElementById(id); }
  var task = null, step = null, scanned = {};

  function flash(kind, text, testid) {
    var box = el("feedback");
    box.innerHTML = "";
    var p = document.createElement("p");
    p.className = "flash " + kind;
    p.setAttribute("role", kind === "error" ? "alert" : "status");
    p.dataset.testid = testid || "flash-" + kind;
    p.textContent = text;
    box.appendChild(p);
    if (kind === "error" && navigator.vibrate) { navigator.vibrate([120, 60, 120]); }
  }

  function item(t) {
    var li = document.createElement("li");
    var a = document.createElement("button");
    a.type = "button";
    a.className = "button";
    a.dataset.task = t.taskId;
    a.dataset.testid = "work-task-" + t.type;
    a.textContent = t.label + " · " + t.sku + " · " + t.qty + " " + t.uom;
    var hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = t.type === "pick" ? t.location : t.from + " → " + t.location;
    a.appendChild(hint);
    a.addEventListener("click", function () { open(t); });
    li.appendChild(a);
    return li;
  }

  function list() {
    task = null;
    el("work-task").hidden = true;
    el("work-list").hidden = false;
    return W.work().then(function (rows) {
      var picks = rows.filter(function (t) { return t.type === "pick"; });
      var putaways = rows.filter(function (t) { return t.type === "putaway"; });
      el("work-picks").replaceChildren.apply(el("work-picks"), picks.map(item));
      el("work-putaways").replaceChildren.apply(el("work-putaways"), putaways.map(item));
      el("work-picks-title").hidden = !picks.length;
      el("work-putaways-title").hidden = !putaways.length;
      el("work-empty").hidden = rows.length > 0;
    });
  }

  function show(name) {
    step = name;
    el("wt-scan-form").hidden = name !== "location" && name !== "item";
    el("wt-qty-form").hidden = name !== "qty";
    el("wt-problem-form").hidden = name !== "problem";
    el("wt-problem").hidden = task.type !== "pick" || name === "problem";
    var label = el("wt-scan-label");
    label.textContent = name === "item" ? label.dataset.item : label.dataset.location;
    var field = name === "qty" ? el("wt-qty-input") : name === "problem" ? el("wt-problem-qty") : el("wt-code");
    if (name === "location" || name === "item") { field.value = ""; }
    field.focus();
    if (field.select) { field.select(); }
  }

  function open(t) {
    task = t;
    scanned = {};
    el("work-list").hidden = true;
    el("work-task").hidden = false;
    el("wt-label").textContent = t.label;
    el("wt-location").textContent = t.location;
    el("wt-sku").textContent = t.sku + (t.description ? " · " + t.description : "");
    el("wt-qty").textContent = t.qty + " " + t.uom;
    el("wt-qty-input").value = t.qty;
    el("feedback").innerHTML = "";
    show("location");
  }

  function done(kind, data, message) {
    return W.enqueue(kind, data).then(function () {
      flash("success", message, "saved");
      return list();
    }).then(function () {
      if (navigator.onLine) { W.sync(); }
    });
  }

  el("wt-scan-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var code = el("wt-code").value.trim();
    var refused = W.check(task, step, code);
    if (refused) { flash("error", refused); el("wt-code").select(); return; }
    el("feedback").innerHTML = "";
    scanned[step] = code;
    if (task.type === "putaway") {
      done("putaway.confirm", {taskId: String(task.taskId), location: code},
           W.word("savedPutaway", {sku: task.sku, location: task.location}));
      return;
    }
    show(step === "location" ? "item" : "qty");
  });

  el("wt-qty-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var short = ev.submitter && ev.submitter.value === "short";
    var text = el("wt-qty-input").value.trim();
    var qty = Number(text), open = Number(task.qty);
    if (!text || !isFinite(qty) || qty < 0) { flash("error", W.word("notANumber")); return; }
    if (qty > open) { flash("error", W.word("tooMuch", {qty: text, open: task.qty})); return; }
    if (!short && qty < open) { flash("error", W.word("useShort", {open: task.qty})); return; }
    if (short && qty >= open) { flash("error", W.word("nothingMissing")); return; }
    done(short ? "pick.short" : "pick.confirm",
         {taskId: task.taskId, location: scanned.location, item: scanned.item, qty: text},
         W.word("savedPick", {qty: text, uom: task.uom, sku: task.sku, location: task.location}));
  });

  el("wt-problem").addEventListener("click", function () { show("problem"); });
  el("wt-problem-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = el("wt-problem-qty").value.trim() || "0";
    if (!isFinite(Number(text)) || Number(text) < 0) { flash("error", W.word("notANumber")); return; }
    if (Number(text) >= Number(task.qty)) { flash("error", W.word("nothingMissing")); return; }
    var select = el("wt-problem-type");
    done("pick.problem", {taskId: task.taskId, type: select.value, qty: text},
         select.options[select.selectedIndex].textContent);
  });
  el("wt-back").addEventListener("click", list);

  el("work-download").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var warehouse = el("wd-warehouse");
    W.download(true, warehouse ? warehouse.value : "").then(function (data) {
      flash("success", W.word("downloaded", {n: data.picks.length + data.putaways.length}), "downloaded");
      return list();
    }).catch(function (err) { flash("error", String(err.message || err)); });
  });
  el("work-sync").addEventListener("click", function () { W.sync().then(list); });
  document.addEventListener("wms:synced", function () { if (!task) { list(); } });
  document.addEventListener("wms:work", function () { if (!task) { list(); } });

  list();
})();
