(function () {
  "use strict";
  var form = document.getElementById("bo-loc");
  if (!form) { return; }
  var unit = document.getElementById("loc-don-vi");
  var platform = document.getElementById("loc-nen-tang");
  var count = document.getElementById("loc-dem");
  function visible(el) { return !!el.querySelector("[data-unit]:not([hidden])"); }
  function apply() {
    var u = unit.value, p = platform.value, shown = 0;
    document.querySelectorAll("[data-unit]").forEach(function (el) {
      var ok = (!u || el.getAttribute("data-unit") === u) && (!p || el.getAttribute("data-platform") === p);
      el.hidden = !ok;
      if (ok && el.classList.contains("post-card")) { shown += 1; }
    });
    document.querySelectorAll(".empty-slots, .slot-group, .day").forEach(function (el) {
      el.hidden = !visible(el);
    });
    count.textContent = shown.toLocaleString("vi-VN");
  }
  unit.addEventListener("change", apply);
  platform.addEventListener("change", apply);
  form.hidden = false;
})();
