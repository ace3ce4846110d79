// Accord console: small progressive enhancements only; every page works without script.
(function () {
  "use strict";
  // Submitting the matrix form as soon as the day, topic or what-if changes.
  var form = document.getElementById("matrix-form");
  if (form) {
    ["at", "topic", "drop"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.addEventListener("change", function () { form.submit(); }); }
    });
  }
})();
