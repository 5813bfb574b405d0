/* The remix feature's enhancements; every page works without them.
   - the frame picker: shows the chosen time, seeks the video to it, "Use current video time";
   - the job page: follows the job through the API and swaps in the final state when it ends;
   - consent switches that save as soon as they change.
   No inline script anywhere: the page CSP is script-src 'self'. */
(function () {
  "use strict";

  var POLL_MS = 700;
  var ACTIVE = { queued: true, running: true };

  function clock(seconds) {
    var tenths = Math.round(Math.max(0, seconds) * 10);
    var minutes = Math.floor(tenths / 600);
    var secs = Math.floor((tenths % 600) / 10);
    var tenth = tenths % 10;
    return minutes + ":" + (secs < 10 ? "0" : "") + secs + (tenth ? "." + tenth : "");
  }

  // ---- frame picker ------------------------------------------------------------------------
  function setUpFramePicker(picker) {
    var range = picker.querySelector("input[type='range']");
    var output = picker.querySelector("[data-frame-output]");
    var button = picker.querySelector("[data-use-video-time]");
    var video = document.querySelector("video.post__video");
    if (!range) {
      return;
    }
    function show() {
      if (output) {
        output.textContent = clock(parseFloat(range.value));
      }
    }
    range.addEventListener("input", function () {
      show();
      // Let people see the frame they are choosing.
      if (video && video.paused && video.readyState >= 1) {
        video.currentTime = parseFloat(range.value);
      }
    });
    if (video && button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var max = parseFloat(range.max) || 0;
        var time = Math.min(max, Math.max(0, video.currentTime || 0));
        range.value = (Math.round(time * 10) / 10).toFixed(1);
        show();
      });
    }
    show();
  }

  // ---- job page ------------------------------------------------------------------------------
  function followJob(box) {
    var statusUrl = box.getAttribute("data-status-url");
    var fragmentUrl = box.getAttribute("data-fragment-url");
    var bar = box.querySelector("[data-job-progress]");
    var percent = box.querySelector("[data-job-percent]");
    var text = box.querySelector("[data-job-status-text]");
    var lastStatus = null;
    var failures = 0;

    function showProgress(job) {
      if (job.status !== lastStatus && text) {
        text.textContent = job.status === "running" ? "Remixing…" : "Waiting for a free worker…";
        lastStatus = job.status;
      }
      if (!bar) {
        return;
      }
      if (job.status === "running") {
        var value = Math.round((job.progress || 0) * 100);
        bar.value = value;
        if (percent) {
          percent.textContent = value + "%";
        }
      } else {
        bar.removeAttribute("value"); // indeterminate while queued
        if (percent) {
          percent.textContent = "";
        }
      }
    }

    // The job ended: the server renders its final state (result image, error) and it replaces the box.
    function showFinal() {
      fetch(fragmentUrl, { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("status " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          var holder = document.createElement("template");
          holder.innerHTML = html.trim();
          var replacement = holder.content.firstElementChild;
          if (!replacement) {
            throw new Error("empty fragment");
          }
          box.replaceWith(replacement);
          if (window.htmx) {
            window.htmx.process(replacement);
          }
          init(replacement);
        })
        .catch(function () {
          window.location.reload();
        });
    }

    function poll() {
      fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("status " + response.status);
          }
          return response.json();
        })
        .then(function (job) {
          failures = 0;
          if (ACTIVE[job.status]) {
            showProgress(job);
            window.setTimeout(poll, POLL_MS);
          } else {
            showFinal();
          }
        })
        .catch(function () {
          failures += 1;
          if (failures >= 5) {
            if (text) {
              text.textContent = "Lost touch with the remix. Reload the page to see how it is doing.";
            }
            return;
          }
          window.setTimeout(poll, POLL_MS * 3);
        });
    }

    poll();
  }

  // ---- consent switches ------------------------------------------------------------------------
  function setUpAutosubmit(form) {
    var button = form.querySelector("[data-autosubmit-button]");
    if (button) {
      button.hidden = true;
    }
    form.addEventListener("change", function () {
      if (form.requestSubmit) {
        form.requestSubmit();
      } else {
        form.submit();
      }
    });
  }

  // Each element is set up once, however often it is seen (page load, htmx:load of a swapped fragment).
  function once(element, setUp) {
    if (element.hasAttribute("data-remix-ready")) {
      return;
    }
    element.setAttribute("data-remix-ready", "");
    setUp(element);
  }

  function each(root, selector, setUp) {
    if (root.matches && root.matches(selector)) {
      once(root, setUp);
    }
    root.querySelectorAll(selector).forEach(function (element) {
      once(element, setUp);
    });
  }

  function init(root) {
    each(root, "[data-frame-picker]", setUpFramePicker);
    each(root, "form[data-autosubmit]", setUpAutosubmit);
    each(root, "[data-remix-job]", followJob);
  }

  init(document);

  // Content htmx swaps in (the remix form with its errors) gets the same treatment.
  document.addEventListener("htmx:load", function (event) {
    if (event.detail && event.detail.elt) {
      init(event.detail.elt);
    }
  });
})();
