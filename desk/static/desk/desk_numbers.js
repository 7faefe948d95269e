/* The desk's numbers, updated in place every minute (never a page reload: a reload wipes a
   half-filled form). Cells carry data-count="<campus code>:<field>" or data-count="late". */
(function () {
  var root = document.getElementById("desk-numbers");
  if (!root) return;
  var url = root.dataset.numbersUrl;
  var every = 60000;
  function set(key, value) {
    var cells = document.querySelectorAll('[data-count="' + key + '"]');
    for (var i = 0; i < cells.length; i++) {
      var cell = cells[i];
      if (cell.textContent !== String(value)) {
        cell.textContent = String(value);
        cell.classList.add("changed");
      }
    }
  }
  function poll() {
    if (document.hidden) { setTimeout(poll, every); return; }
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (numbers) {
        Object.keys(numbers.campuses).forEach(function (code) {
          var row = numbers.campuses[code];
          Object.keys(row).forEach(function (field) { set(code + ":" + field, row[field]); });
        });
        set("late", numbers.late);
        set("failed", numbers.failed);
        var stamp = document.getElementById("numbers-updated");
        if (stamp) stamp.textContent = "数字更新于 " + numbers.updated_at;
        setTimeout(poll, every);
      })
      .catch(function () { setTimeout(poll, every * 2); });
  }
  setTimeout(poll, every);
})();
