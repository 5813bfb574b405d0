/* Progressive enhancement only: every page works without this file (and without htmx).
   No inline script anywhere: the page CSP is script-src 'self'. */
(function () {
  "use strict";

  function showMessage(text, level) {
    var area = document.getElementById("messages");
    if (!area) {
      return;
    }
    var message = document.createElement("p");
    message.className = "message message--" + level;
    if (level === "error") {
      message.setAttribute("role", "alert");
    }
    message.textContent = text;
    area.appendChild(message);
  }

  // Ask before destructive posts: <form data-confirm="Delete this post?">. Capture phase, so
  // this runs before anything else sees the submit.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      var question = form instanceof HTMLFormElement ? form.getAttribute("data-confirm") : null;
      if (question && !window.confirm(question)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  // htmx does not swap error answers; say what went wrong instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var type = (xhr.getResponseHeader("Content-Type") || "").split(";")[0];
    var text;
    if (type === "text/plain" && xhr.responseText) {
      text = xhr.responseText;
    } else if (xhr.status === 403) {
      text = "You don't have permission to do that.";
    } else if (xhr.status === 404) {
      text = "That no longer exists. Reload the page to see what changed.";
    } else {
      text = "Something went wrong. Please try again.";
    }
    showMessage(text, "error");
  });

  document.addEventListener("htmx:sendError", function () {
    showMessage("Couldn't reach Remix. Check your connection and try again.", "error");
  });
})();
