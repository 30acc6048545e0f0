// In-place updates (htmx): what a full page load would give for free.
(function () {
  "use strict";

  // --- Back restores what was typed ----------------------------------------------
  // htmx keeps a copy of the page for Back, but takes it when the next search is
  // pushed, by which time the box holds the new words. A form marked
  // data-restore-from-url is therefore filled again from the restored URL, which is
  // what its results were made from.
  function fillFromUrl() {
    var params = new URLSearchParams(window.location.search);
    document.querySelectorAll("form[data-restore-from-url]").forEach(function (form) {
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!field.name || field.type === "hidden" || field.type === "submit") return;
        var value = params.get(field.name);
        if (field.type === "checkbox" || field.type === "radio") {
          field.checked = value !== null && (field.value === value || value === "on");
        } else if (field.tagName === "SELECT") {
          if (value !== null) field.value = value;
          else if (field.options.length) field.selectedIndex = Array.prototype.findIndex.call(
            field.options, function (option) { return option.defaultSelected; }
          );
        } else {
          field.value = value === null ? "" : value;
        }
      });
    });
  }
  document.addEventListener("htmx:historyRestore", fillFromUrl);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) fillFromUrl(); // the browser's own back-forward cache
  });

  // --- focus after an in-place submit --------------------------------------------
  // A form answered in place (hx-post) replaces what held the focus, which would drop
  // it on <body>. Move it to what the answer says, in this order: an element marked
  // data-focus-first, the first alert (a form error, a conflict), the first field with
  // an error, the first status message (a result); else the answer itself. Messages
  // are also read out through the page's live region (#announcer in base.html), unless
  // the focus is on them already (then the screen reader reads them anyway).
  var answered = null;
  function isSubmit(detail) {
    var config = detail.requestConfig;
    return Boolean(config && config.verb && config.verb !== "get");
  }
  // Only a submit's answer moves the focus; a list reloading meanwhile (a GET) does not.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (isSubmit(event.detail) && target && target.id) answered = target.id;
  });

  function focusable(element) {
    if (!element.matches("a[href], button, input, select, textarea, [tabindex]")) {
      element.setAttribute("tabindex", "-1");
    }
    return element;
  }

  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region || !text) return;
    region.textContent = "";
    setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!answered || !isSubmit(event.detail)) return;
    var root = document.getElementById(answered);
    answered = null;
    if (!root) return;
    var choice =
      root.querySelector("[data-focus-first]") ||
      root.querySelector('[role="alert"]') ||
      root.querySelector('[aria-invalid="true"]') ||
      root.querySelector('[role="status"]') ||
      root;
    focusable(choice).focus();
    var messages = root.querySelectorAll('[role="alert"], [role="status"]');
    var words = [];
    messages.forEach(function (message) {
      if (message !== choice) words.push(message.textContent.replace(/\s+/g, " ").trim());
    });
    announce(words.join(" "));
  });
})();
