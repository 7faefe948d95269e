/* Hand signature on a canvas with Pointer Events (finger, stylus or mouse).

   Before the form is sent, the 同意 box and the drawing are checked here, so that a forgotten
   tick never costs the signature; after a refusal by the server, the page comes back with the
   drawing in the hidden field (a PNG data URL the server checked) and it is put back on the
   canvas (issue 13, defect 6). */
(function () {
  var canvas = document.getElementById("signature-pad");
  if (!canvas) return;
  var form = document.getElementById("sign-form");
  var field = form.querySelector('input[name="signature"]');
  var agree = document.getElementById("id_agree");
  var agreeMissing = document.getElementById("agree-missing");
  var hint = document.getElementById("sign-hint");
  var emptyError = document.getElementById("sign-empty");
  var context = canvas.getContext("2d");
  var PNG = "data:image/png;base64,";
  var drawing = false, inked = 0, last = null;
  var kept = field.value.indexOf(PNG) === 0 ? field.value : "";

  function resize() {
    var ratio = Math.max(window.devicePixelRatio || 1, 1);
    var box = canvas.getBoundingClientRect();
    canvas.width = Math.round(box.width * ratio);
    canvas.height = Math.round(box.height * ratio);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.lineWidth = 2.6;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#101828";
    clear();
  }
  function clear() {
    context.clearRect(0, 0, canvas.width, canvas.height);
    inked = 0;
    field.value = "";
    hint.hidden = false;
  }
  function restore(dataUrl) {
    var image = new Image();
    image.onload = function () {
      var box = canvas.getBoundingClientRect();
      context.drawImage(image, 0, 0, box.width, box.height);
      inked = 1000;
      field.value = dataUrl;
      hint.hidden = true;
    };
    image.src = dataUrl;
  }
  function point(event) {
    var box = canvas.getBoundingClientRect();
    return { x: event.clientX - box.left, y: event.clientY - box.top };
  }
  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = true;
    last = point(event);
    hint.hidden = true;
    emptyError.hidden = true;
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) return;
    event.preventDefault();
    var next = point(event);
    context.beginPath();
    context.moveTo(last.x, last.y);
    context.lineTo(next.x, next.y);
    context.stroke();
    inked += Math.abs(next.x - last.x) + Math.abs(next.y - last.y);
    last = next;
  });
  function stop() { drawing = false; }
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  document.getElementById("sign-clear").addEventListener("click", clear);
  agree.addEventListener("change", function () { if (agree.checked) agreeMissing.hidden = true; });
  form.addEventListener("submit", function (event) {
    var problem = null;
    if (!agree.checked) {
      agreeMissing.hidden = false;
      problem = agree;
    }
    if (inked < 30) {
      emptyError.hidden = false;
      problem = problem || canvas;
    }
    if (problem) {
      event.preventDefault();
      if (problem === agree) agree.focus();
      problem.scrollIntoView({ block: "center" });
      return;
    }
    field.value = canvas.toDataURL("image/png");
  });
  window.addEventListener("resize", function () { if (!inked) resize(); });
  resize();
  if (kept) restore(kept);
})();
