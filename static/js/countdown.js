/* 重新获取验证码: counts down the seconds the server said are left, then enables the button.
   Without JavaScript the button stays usable and the server answers with the seconds left. */
(function () {
  var button = document.querySelector("[data-countdown]");
  if (!button) return;
  var seconds = parseInt(button.getAttribute("data-countdown"), 10) || 0;
  if (seconds <= 0) return;
  var label = button.querySelector("[data-seconds]");
  var readyAt = Date.now() + seconds * 1000;  // by the clock: a phone may throttle timers
  button.disabled = true;
  function tick() {
    var left = Math.ceil((readyAt - Date.now()) / 1000);
    if (left <= 0) {
      button.disabled = false;
      button.textContent = button.getAttribute("data-ready");
      return;
    }
    if (label) label.textContent = String(left);
    window.setTimeout(tick, 250);
  }
  tick();
})();
