/* Upload check progress: polls the status URL on #progress-card until the check is done. */
(function () {
  var card = document.getElementById("progress-card");
  if (!card) return;
  var url = card.dataset.statusUrl;
  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (status) {
        if (!status.in_progress) { window.location.reload(); return; }
        document.getElementById("progress-label").textContent = status.state_label;
        var bar = document.getElementById("progress-bar");
        bar.max = status.rows_total || 1;
        bar.value = status.rows_checked;
        document.getElementById("progress-text").textContent = status.rows_total
          ? "已检查 " + status.rows_checked + " / " + status.rows_total + " 行"
          : "正在读取文件…";
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 700);
})();
