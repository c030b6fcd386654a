// Runs in <head>, before the first paint: applies the saved theme so the page never flashes
// the wrong one, and marks that JavaScript is on (CSS shows JS-only controls then).
(function () {
  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");
  try {
    var theme = localStorage.getItem("portal-theme");
    if (theme === "dark" || theme === "light") root.dataset.theme = theme;
  } catch (e) { /* storage blocked: follow the system */ }
})();
