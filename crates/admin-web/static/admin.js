// aduan admin pages: progressive enhancement only; every page works without it.
// - countdowns ([data-due]) tick every 30 s, using the server's clock (body[data-server-now])
// - the queue (#queue[data-refresh]) reloads itself every minute while the tab is visible
// - [data-print] buttons print the page; [data-select-all=NAME] toggles checkboxes NAME
(function () {
  "use strict";
  var body = document.body;
  var serverNow = Date.parse(body.getAttribute("data-server-now") || "");
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();
  function now() { return Date.now() + skew; }

  function span(minutes) {
    var m = Math.abs(minutes);
    if (m < 60) return m + " menit";
    if (m < 1440) return Math.floor(m / 60) + " jam " + (m % 60) + " menit";
    return Math.floor(m / 1440) + " hari " + Math.floor((m % 1440) / 60) + " jam";
  }

  function tick(root) {
    var els = (root || document).querySelectorAll("[data-due]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) continue;
      var secs = Math.floor((due - now()) / 1000);
      el.classList.remove("breached", "due-soon", "on-time");
      if (secs < 0) {
        el.textContent = "terlambat " + span(Math.floor((-secs + 59) / 60));
        el.classList.add("breached");
      } else {
        var mins = Math.floor(secs / 60);
        el.textContent = "sisa " + span(mins);
        el.classList.add(mins < 5 ? "due-soon" : "on-time");
      }
    }
  }

  function refreshQueue(box) {
    if (document.visibilityState && document.visibilityState !== "visible") return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok || r.redirected) throw new Error("status " + r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("queue");
        var stamp = doc.body && doc.body.getAttribute("data-server-now");
        if (stamp && !isNaN(Date.parse(stamp))) skew = Date.parse(stamp) - Date.now();
        if (fresh) {
          box.innerHTML = fresh.innerHTML;
          var d = new Date();
          var r = document.getElementById("refreshed");
          if (r) r.textContent = "diperbarui " + ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
        }
      })
      .catch(function () {
        var r = document.getElementById("refreshed");
        if (r) r.textContent = "gagal memperbarui; muat ulang halaman";
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    // The server rendered the countdowns; from here on they tick in the browser.
    setInterval(tick, 30000);
    var box = document.getElementById("queue");
    if (box && box.hasAttribute("data-refresh")) {
      var secs = parseInt(box.getAttribute("data-refresh"), 10) || 60;
      setInterval(function () { refreshQueue(box); }, secs * 1000);
    }
    var printers = document.querySelectorAll("[data-print]");
    for (var i = 0; i < printers.length; i++) {
      printers[i].addEventListener("click", function () { window.print(); });
    }
    var all = document.querySelectorAll("[data-select-all]");
    for (var j = 0; j < all.length; j++) {
      all[j].addEventListener("change", function (ev) {
        var name = ev.target.getAttribute("data-select-all");
        var boxes = document.querySelectorAll("input[type=checkbox][name='" + name + "']");
        for (var k = 0; k < boxes.length; k++) boxes[k].checked = ev.target.checked;
      });
    }
  });
})();
