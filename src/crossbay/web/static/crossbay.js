// Progressive enhancement only: every page works without this file.
// Copy buttons stay hidden unless scripts run; without them the field can still be selected and copied.
(function () {
  "use strict";
  var buttons = document.querySelectorAll("[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = button.getAttribute("data-done");
      });
    });
  });
  // Tapping the read-only code selects all of it, ready to copy by hand.
  Array.prototype.forEach.call(document.querySelectorAll("input[readonly]"), function (field) {
    field.addEventListener("focus", function () {
      field.select();
    });
  });
})();
