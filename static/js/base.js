// Small progressive enhancements used on every page. Everything here is optional:
// without JavaScript the pages still work, these only add comfort.
(function () {
  "use strict";

  // --- theme toggle, remembered in localStorage ------------------------------
  function effectiveTheme() {
    var set = document.documentElement.getAttribute("data-theme");
    if (set) return set;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches
      ? "dark"
      : "light";
  }

  function showTheme() {
    var dark = effectiveTheme() === "dark";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.setAttribute("aria-pressed", dark ? "true" : "false");
      // The accessible name stays "Dark theme" (a toggle with aria-pressed);
      // the visible word names what a click switches to.
      button.title = dark ? "Switch to the light theme" : "Switch to the dark theme";
      var label = button.querySelector("[data-theme-label]");
      if (label) label.textContent = dark ? "Light" : "Dark";
    });
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (!toggle) return;
    var next = effectiveTheme() === "dark" ? "light" : "dark";
    document.documentElement.setAttribute("data-theme", next);
    try {
      localStorage.setItem("pp-theme", next);
    } catch (e) {
      // Not stored: the choice lasts for this page only.
    }
    showTheme();
  });

  // --- copy buttons: <button data-copy-target="#id"> or data-copy-text -----
  function flash(button, text) {
    var original = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", original);
    button.textContent = text;
    setTimeout(function () {
      button.textContent = original;
    }, 1500);
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target], [data-copy-text]");
    if (!button) return;
    var text = button.getAttribute("data-copy-text");
    if (text === null) {
      var source = document.querySelector(button.getAttribute("data-copy-target"));
      if (!source) return;
      // Copy what is shown: the pretty or the raw JSON, whichever is visible.
      var visible = source.querySelector("[data-json-view]:not([hidden])");
      text = (visible || source).textContent;
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () {
          flash(button, "Copied");
        },
        function () {
          flash(button, fallbackCopy(text) ? "Copied" : "Copy failed");
        }
      );
    } else {
      flash(button, fallbackCopy(text) ? "Copied" : "Copy failed");
    }
  });

  // --- raw / pretty JSON toggle ---------------------------------------------
  // The links work without JS (?format=raw); with JS they switch in place.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-json-toggle]");
    if (!link) return;
    var box = document.querySelector(link.getAttribute("data-json-toggle"));
    if (!box) return;
    event.preventDefault();
    var want = link.getAttribute("data-json-format");
    box.querySelectorAll("[data-json-view]").forEach(function (view) {
      view.hidden = view.getAttribute("data-json-view") !== want;
    });
    document
      .querySelectorAll('[data-json-toggle="' + link.getAttribute("data-json-toggle") + '"]')
      .forEach(function (other) {
        var current = other.getAttribute("data-json-format") === want;
        other.setAttribute("aria-current", current ? "true" : "false");
      });
  });

  // --- polling must never take the reader's place ----------------------------
  // htmx replaces the panel's content on every poll. Skip a swap while the user
  // has text selected inside the target (it would drop the selection). Focus is
  // kept by htmx itself (elements keep their ids), scroll by stable card sizes.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.hasAttribute("data-poll-guard")) return;
    var selection = window.getSelection && window.getSelection();
    if (
      selection &&
      !selection.isCollapsed &&
      selection.rangeCount > 0 &&
      target.contains(selection.getRangeAt(0).commonAncestorContainer)
    ) {
      event.detail.shouldSwap = false;
    }
  });

  // Polled panels wait while the tab is hidden. (Not a filter in hx-trigger: htmx
  // evaluates those as code, which the Content-Security-Policy does not allow.)
  document.addEventListener("htmx:confirm", function (event) {
    var element = event.detail.elt;
    if (element && element.hasAttribute("data-poll-guard") && document.visibilityState !== "visible") {
      event.preventDefault();
    }
  });

  // When the tab becomes visible again, refresh polled panels at once instead
  // of waiting for the next tick (they were paused while it was hidden).
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    document.querySelectorAll("[data-poll-guard][hx-get]").forEach(function (element) {
      window.htmx.trigger(element, "pp:visible");
    });
  });

  // Buttons and controls that only make sense with JS are hidden in the HTML.
  function reveal(root) {
    (root || document).querySelectorAll("[data-js-only]").forEach(function (element) {
      element.hidden = false;
    });
  }

  // <time data-local datetime="…Z"> shows the server's time zone without JS;
  // with JS, the reader's own.
  function localTimes(root) {
    (root || document).querySelectorAll("time[data-local]").forEach(function (element) {
      var moment = new Date(element.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      element.textContent = moment.toLocaleString();
      var note = element.parentElement && element.parentElement.querySelector("[data-local-note]");
      if (note) note.textContent = "(your time zone)";
    });
  }

  // <time data-ago datetime="…Z"> shows its UTC time without JS; with JS, how long
  // ago that was, kept current. The server renders these in HTML it reuses for every
  // reader (kurrent/web/fragments.py), which therefore cannot say "42 s ago" itself.
  // The same words as kurrent/formatting.py's ago().
  function agoText(seconds) {
    if (seconds < 2) return "just now";
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }

  function agoTimes(root) {
    (root || document).querySelectorAll("time[data-ago]").forEach(function (element) {
      var moment = new Date(element.getAttribute("datetime"));
      if (isNaN(moment.getTime())) return;
      if (!element.title) element.title = element.textContent;
      element.textContent = agoText(Math.max(0, Math.floor((Date.now() - moment.getTime()) / 1000)));
    });
  }
  setInterval(function () {
    agoTimes(document);
  }, 10000);

  document.addEventListener("DOMContentLoaded", function () {
    showTheme();
    reveal(document);
    localTimes(document);
    agoTimes(document);
    document.documentElement.classList.add("js");
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    reveal(event.detail.elt);
    localTimes(event.detail.elt);
    agoTimes(document); // an outerHTML swap's new element is not event.detail.elt
  });
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", showTheme);
  }
})();
