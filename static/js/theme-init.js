// Runs in <head> before the first paint so a stored theme never flashes.
// No stored choice: the CSS follows the system preference (prefers-color-scheme).
(function () {
  try {
    var theme = localStorage.getItem("pp-theme");
    if (theme === "light" || theme === "dark") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (e) {
    // localStorage can be blocked (private mode, policies): keep the system theme.
  }
})();
