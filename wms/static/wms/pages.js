// Behaviour of the server-rendered pages (handheld shell and admin), kept out of
// the HTML so the Content-Security-Policy can refuse inline scripts and handlers.
//
// - data-autosubmit on a field: a change sends its form (language switch, filters);
// - data-confirm="question" on a form: asked before it is sent;
// - handheld pages (body.handheld): the scan field has the focus (scanners type,
//   then send Enter, and Enter submits the form); a refused scan buzzes; a form is
//   sent once.
(function () {
  "use strict";
  document.querySelectorAll("[data-autosubmit]").forEach(function (field) {
    field.addEventListener("change", function () { field.form.submit(); });
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
    });
  });
  if (!document.body.classList.contains("handheld")) { return; }
  var field = document.querySelector("[data-scan]:not([disabled])") || document.querySelector("[autofocus]");
  if (field) { field.focus(); if (field.select) { field.select(); } }
  if (document.querySelector(".flash.error") && navigator.vibrate) { navigator.vibrate([120, 60, 120]); }
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      // After every handler ran: a form a page script sends itself (preventDefault)
      // manages its own buttons.
      setTimeout(function () {
        if (ev.defaultPrevented) { return; }
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
})();
