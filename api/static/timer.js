// Counts the remaining time down on the page. The server keeps the real deadline: an answer sent
// after it is not recorded and the exam is scored on what was answered in time.
(function () {
  var el = document.getElementById("timer");
  if (!el) return;
  var end = Date.now() + 1000 * parseInt(el.dataset.secondsLeft, 10);
  function tick() {
    var left = Math.max(0, Math.round((end - Date.now()) / 1000));
    var text = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    el.textContent = left > 0 ? "Time left " + text : "Time is up";
    el.classList.toggle("low", left <= 60);
    if (left > 0) setTimeout(tick, 250);
  }
  tick();
})();
