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
  // The PIN pad fills the PIN field by taps; without scripts the field takes the phone's own keypad.
  Array.prototype.forEach.call(document.querySelectorAll("[data-pin-pad]"), function (pad) {
    var field = document.getElementById(pad.getAttribute("data-pin-pad"));
    if (!field) {
      return;
    }
    pad.hidden = false;
    var limit = field.maxLength > 0 ? field.maxLength : 6;
    pad.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) {
        return;
      }
      if (button.hasAttribute("data-digit") && field.value.length < limit) {
        field.value += button.getAttribute("data-digit");
      } else if (button.hasAttribute("data-back")) {
        field.value = field.value.slice(0, -1);
      } else if (button.hasAttribute("data-clear")) {
        field.value = "";
      }
    });
  });
  // Typing an amount of one's own chooses "Other".
  Array.prototype.forEach.call(document.querySelectorAll("[data-selects]"), function (field) {
    var choice = document.getElementById(field.getAttribute("data-selects"));
    if (!choice) {
      return;
    }
    field.addEventListener("input", function () {
      if (field.value !== "") {
        choice.checked = true;
      }
    });
  });
})();
