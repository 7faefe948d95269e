/* A "select all on this page" checkbox (#select-all) for the ids checkboxes of its form. */
(function () {
  var toggle = document.getElementById("select-all");
  if (!toggle) return;
  toggle.addEventListener("change", function () {
    toggle.form.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = toggle.checked; });
  });
})();
