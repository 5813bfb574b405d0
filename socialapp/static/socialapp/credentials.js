/* Content credentials panels. A remix comment's "Content credentials" <details> holds a link to the
   credentials page; the first time it is opened this fills it with that page's own panel (fetched
   with ?partial=1), so the page and the panel are one server rendering. Every page works without it.
   No inline script anywhere: the page CSP is script-src 'self'. */
(function () {
  "use strict";

  function load(panel) {
    var slot = panel.querySelector("[data-credentials-slot]");
    var url = panel.getAttribute("data-credentials-url");
    if (!slot || !url || panel.hasAttribute("data-credentials-state")) {
      return;
    }
    panel.setAttribute("data-credentials-state", "loading");
    slot.setAttribute("aria-busy", "true");
    slot.textContent = "Checking the credentials…";
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var holder = document.createElement("template");
        holder.innerHTML = html.trim();
        slot.replaceChildren(holder.content);
        panel.setAttribute("data-credentials-state", "loaded");
      })
      .catch(function () {
        // Opening the panel again tries again; the link to the page stays either way.
        panel.removeAttribute("data-credentials-state");
        slot.textContent = "The credentials could not be loaded. Close and open this panel to try again.";
      })
      .finally(function () {
        slot.removeAttribute("aria-busy");
      });
  }

  // "toggle" does not bubble, but it can be caught on the way down: this also covers comments
  // added to the page later (htmx appends a new comment).
  document.addEventListener(
    "toggle",
    function (event) {
      var panel = event.target;
      if (panel instanceof HTMLDetailsElement && panel.open && panel.hasAttribute("data-credentials-url")) {
        load(panel);
      }
    },
    true
  );
  document.querySelectorAll("details[data-credentials-url][open]").forEach(load);
})();
