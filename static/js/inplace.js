// In-place updates (htmx): what a full page load would give for free.
(function () {
  "use strict";

  // --- Back restores what was typed ----------------------------------------------
  // htmx keeps a copy of the page's HTML for Back; a field's typed value lives in a
  // property, not in the HTML, so copy it into the attribute just before the copy is
  // taken. Back then shows the search box as it was, beside its results.
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("input, textarea, select").forEach(function (field) {
      if (field.type === "password" || field.type === "hidden" || field.type === "file") return;
      if (field.tagName === "SELECT") {
        Array.prototype.forEach.call(field.options, function (option) {
          if (option.selected) option.setAttribute("selected", "");
          else option.removeAttribute("selected");
        });
      } else if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked) field.setAttribute("checked", "");
        else field.removeAttribute("checked");
      } else if (field.tagName === "TEXTAREA") {
        field.textContent = field.value;
      } else {
        field.setAttribute("value", field.value);
      }
    });
  });
})();
