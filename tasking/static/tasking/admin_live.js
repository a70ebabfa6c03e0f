/* Supervisors' lists that follow the floor (issue 16): the page reloads when the
 * server pushes a committed change (tasking.push, server-sent events from the
 * outbox), unless the supervisor is busy on it (rows selected, a field being
 * typed in). Loaded by the pick task and wave change lists. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!window.EventSource || !me || !me.dataset.eventsUrl) { return; }
  var source = new EventSource(me.dataset.eventsUrl);
  source.addEventListener("open", function () { document.documentElement.dataset.live = "open"; });
  source.addEventListener("change", function () {
    if (document.querySelector("#result_list input.action-select:checked")) { return; }
    var active = document.activeElement;
    if (active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName) && active.value) { return; }
    source.close();
    window.location.reload();
  });
})();
