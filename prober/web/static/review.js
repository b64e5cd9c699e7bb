// prober workspace: the call player (seek from the timeline and the waveform) and the
// keyboard shortcuts of the criteria grid. Vendored, no dependency, no remote script.
(function () {
  "use strict";
  var audio = document.getElementById("lecteur");
  var wave = document.getElementById("forme-onde");
  var cursor = document.getElementById("curseur");

  function seek(seconds) {
    if (!audio) { return; }
    audio.currentTime = Math.max(0, seconds);
    var played = audio.play();
    if (played && played.catch) { played.catch(function () {}); }
  }

  document.querySelectorAll("button.repere").forEach(function (button) {
    button.addEventListener("click", function () {
      seek(parseFloat(button.getAttribute("data-offset")) || 0);
    });
  });

  if (audio && wave) {
    var width = parseFloat(wave.getAttribute("data-width")) || 1;
    wave.addEventListener("click", function (event) {
      var box = wave.getBoundingClientRect();
      if (audio.duration && box.width) {
        seek(audio.duration * (event.clientX - box.left) / box.width);
      }
    });
    audio.addEventListener("timeupdate", function () {
      if (cursor && audio.duration) {
        var x = width * audio.currentTime / audio.duration;
        cursor.setAttribute("x1", x);
        cursor.setAttribute("x2", x);
      }
    });
  }

  var sets = Array.prototype.slice.call(document.querySelectorAll("fieldset.critere"));
  var current = 0;
  function focusSet(index) {
    if (!sets.length) { return; }
    current = Math.max(0, Math.min(sets.length - 1, index));
    var checked = sets[current].querySelector("input:checked") || sets[current].querySelector("input");
    if (checked) { checked.focus(); }
  }
  sets.forEach(function (set, index) {
    set.addEventListener("focusin", function () { current = index; });
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" ||
      (target.tagName === "INPUT" && target.type !== "radio") || target.tagName === "SELECT");
    if (event.key === "Enter" && event.ctrlKey) {
      var form = document.getElementById("formulaire-revue");
      if (form) { event.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (typing || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var onRadio = target && target.tagName === "INPUT" && target.type === "radio";
    if (event.key === "p" && audio) {
      event.preventDefault();
      if (audio.paused) { seek(audio.currentTime); } else { audio.pause(); }
    } else if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && audio && !onRadio) {
      event.preventDefault();
      seek(audio.currentTime + (event.key === "ArrowLeft" ? -5 : 5));
    } else if (["1", "2", "3"].indexOf(event.key) >= 0 && sets.length) {
      event.preventDefault();
      var inputs = sets[current].querySelectorAll("input[type=radio]");
      var chosen = inputs[parseInt(event.key, 10) - 1];
      if (chosen) { chosen.checked = true; }
      focusSet(current + 1);
    } else if (event.key === "j") {
      focusSet(current + 1);
    } else if (event.key === "k") {
      focusSet(current - 1);
    }
  });
})();
