/* herald store advisory banner. Embed with
 *   <script src="https://status.example.com/advisory.js" async></script>
 * Shows the seller's advisory (if one is in force) as a banner at the top of the page.
 * Options, as attributes on the script tag:
 *   data-target="#id"   put the banner inside this element instead of at the top of <body>
 *   data-status="on"    also show the status page's overall status when something is wrong
 * Style it with the classes herald-advisory and herald-advisory-{info,warning,critical};
 * data-style="none" drops the built-in colours. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !window.fetch) return;
  var base = new URL(me.src, location.href);
  var colours = {
    info: ["#e8f1fb", "#123a63"],
    warning: ["#fff4d6", "#5a3d00"],
    critical: ["#fde2e1", "#6b0d0a"]
  };
  fetch(new URL("/api/v1/advisory", base).toString(), { mode: "cors", credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (a) {
      if (!a) return;
      var text = null, level = "warning";
      if (a.active) {
        text = a.message + (a.until_text ? " (" + a.until_text + ")" : "");
        level = a.level;
      } else if (me.getAttribute("data-status") === "on" && a.status && a.status.indicator !== "none") {
        text = a.status.description;
        level = a.status.indicator === "critical" || a.status.indicator === "major" ? "critical" : "warning";
      }
      if (!text) return;
      var bar = document.createElement("div");
      bar.className = "herald-advisory herald-advisory-" + level;
      bar.setAttribute("role", "status");
      var words = document.createElement("span");
      words.textContent = text + " ";
      bar.appendChild(words);
      if (a.page && a.page.url) {
        var link = document.createElement("a");
        link.href = a.page.url;
        link.textContent = "Service status";
        bar.appendChild(link);
      }
      if (me.getAttribute("data-style") !== "none") {
        var c = colours[level] || colours.warning;
        bar.style.cssText = "background:" + c[0] + ";color:" + c[1] +
          ";padding:.6em 1em;text-align:center;font:inherit;line-height:1.4;border-bottom:1px solid " + c[1];
        if (bar.lastChild.tagName === "A") bar.lastChild.style.color = c[1];
      }
      var where = me.getAttribute("data-target");
      var target = where ? document.querySelector(where) : null;
      var show = function () {
        var t = target || document.body;
        t.insertBefore(bar, t.firstChild);
      };
      if (document.body) show(); else document.addEventListener("DOMContentLoaded", show);
    })
    .catch(function () { /* the status host is away: the storefront stays as it is */ });
})();
