// Commune's web view: reload the page when the node's log grows (server-sent events
// from this same node). The overview and activity pages also reload after a sync round.
// While someone is typing in a form, only a note is shown, so nothing they type is lost.
(function () {
  "use strict";
  if (!window.EventSource) { return; }
  var kinds = document.body.getAttribute("data-live") === "peers" ? ["grew", "peers"] : ["grew"];
  var source = new EventSource("/live");
  var last = 0;
  function typing() {
    var el = document.activeElement;
    return el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA");
  }
  function changed() {
    if (typing()) {
      var note = document.getElementById("live-note");
      if (note) { note.hidden = false; }
      return;
    }
    var now = Date.now();
    if (now - last < 2000) { return; }
    last = now;
    source.close();
    window.location.reload();
  }
  kinds.forEach(function (kind) { source.addEventListener(kind, changed); });
})();
