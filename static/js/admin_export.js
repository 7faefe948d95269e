/* The admin export page's "select all" toggle, bound here: the CSP forbids inline handlers.
   onSelectToggleChange comes from django-import-export's export_selectable_fields.js. */
document.querySelectorAll("input.select-toggle").forEach(function (toggle) {
  toggle.addEventListener("change", function (event) { onSelectToggleChange(event); });
});
