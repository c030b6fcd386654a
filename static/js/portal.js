// Behaviour for every page. No inline scripts anywhere: the CSP forbids them.
(function () {
  "use strict";

  // --- Theme: dark -> light -> system -> dark; the choice lives in localStorage. ---
  var THEMES = ["dark", "light", "system"];
  var LABELS = { dark: "Dark", light: "Light", system: "System" };

  function currentTheme() {
    var t = document.documentElement.dataset.theme;
    return t === "dark" || t === "light" ? t : "system";
  }

  function showTheme() {
    var label = "Theme: " + LABELS[currentTheme()];
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.setAttribute("aria-label", label);
      button.setAttribute("title", label);
    });
    // Seen beside the icon: with a dark system theme, System -> Dark changes no colour.
    document.querySelectorAll("[data-theme-label]").forEach(function (span) {
      span.textContent = LABELS[currentTheme()];
    });
  }

  function applyTheme(theme) {
    if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
    showTheme();
  }

  // Read out once, briefly: a live region that keeps its words is read again and again.
  var announceTimer = null;
  function announceTheme() {
    var region = document.querySelector("[data-theme-announce]");
    if (!region) return;
    region.textContent = "Theme: " + LABELS[currentTheme()];
    clearTimeout(announceTimer);
    announceTimer = setTimeout(function () { region.textContent = ""; }, 4000);
  }

  function cycleTheme() {
    var next = THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length];
    applyTheme(next);
    try {
      if (next === "system") localStorage.removeItem("portal-theme");
      else localStorage.setItem("portal-theme", next);
    } catch (e) { /* storage blocked: the choice lasts for this page only */ }
    announceTheme();
  }

  // Other open tabs of the portal follow a change at once (the event comes from the others).
  window.addEventListener("storage", function (event) {
    if (event.key === "portal-theme" || event.key === null) applyTheme(event.newValue);
  });

  // --- The phone-sized menu. ---
  function setMenu(open) {
    var button = document.querySelector("[data-menu-toggle]");
    var menu = document.getElementById("menu");
    if (!button || !menu) return;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    menu.classList.toggle("menu--open", open);
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.closest("[data-theme-toggle]")) cycleTheme();
    var toggle = target.closest("[data-menu-toggle]");
    if (toggle) setMenu(toggle.getAttribute("aria-expanded") !== "true");
    // A tap or click anywhere outside the open menu closes it, as Escape does.
    else if (!target.closest("#menu")) setMenu(false);
  });

  // Escape closes it; focus that was inside goes back to the button, not into nothing.
  document.addEventListener("keydown", function (event) {
    var menu = document.getElementById("menu");
    if (event.key !== "Escape" || !menu || !menu.classList.contains("menu--open")) return;
    var active = document.activeElement;
    var inside = menu.contains(active) && !(active && active.closest(".topbar-tools")); // the theme stays shown
    setMenu(false);
    var button = document.querySelector("[data-menu-toggle]");
    if (inside && button) button.focus();
  });

  // --- Forgot password? carries what was typed as the username to the next page. ---
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("[data-forgot-link]") : null;
    var field = document.getElementById("username");
    if (!link || !field || !field.value.trim()) return;
    link.setAttribute("href", "/forgot-password?username=" + encodeURIComponent(field.value.trim()));
  });

  // --- The strength hint sends only what it needs: never the current password. ---
  var HINT_FIELDS = ["new_password", "username", "csrf_token"];
  document.addEventListener("htmx:config:request", function (event) {
    var ctx = event.detail && event.detail.ctx;
    if (!ctx || !ctx.sourceElement || !ctx.sourceElement.hasAttribute("data-strength")) return;
    var body = ctx.request.body;
    if (!body || typeof body.keys !== "function") return;
    Array.from(body.keys()).forEach(function (name) {
      if (HINT_FIELDS.indexOf(name) === -1) body.delete(name);
    });
  });

  // --- One submit at a time: a second click while the first is on its way is ignored, and the
  // button says it is busy. Capture phase, so it runs before htmx's own listener. A form that
  // an htmx swap replaces is new; one that stays is released when its request ends, and a plain
  // form's page that comes back from the back-forward cache is released on show. ---
  function setBusy(form, busy) {
    if (busy) form.dataset.busy = "true";
    else delete form.dataset.busy;
    form.querySelectorAll("button[type='submit'], button:not([type])").forEach(function (button) {
      button.disabled = busy;
      if (busy) button.setAttribute("aria-busy", "true");
      else button.removeAttribute("aria-busy");
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    // Forms that go to the server; the phone's dial pad is handled on the page.
    if (!(form instanceof HTMLFormElement) || !form.matches("form[method='post' i], form[hx-post]")) return;
    if (form.dataset.busy) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    setBusy(form, true);
  }, true);

  document.addEventListener("htmx:finally:request", function (event) {
    var form = event.target instanceof Element ? event.target.closest("form") : null;
    if (form && form.dataset.busy) setBusy(form, false);
  });

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-busy]").forEach(function (form) { setBusy(form, false); });
  });

  // --- Idle expiry: when the session's time is up, the open page goes to the login screen. ---
  // The server is the judge: when the timer fires the page asks /session, which does not
  // count as activity, and either re-arms for what is left or leaves. Before leaving it asks
  // once more: a password change may have given the session a new id while the question was
  // on its way, and the answer was about the old one.
  var idleTimer = null;

  function armIdle(seconds) {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { checkSession(false); }, Math.max(1, seconds) * 1000 + 500);
  }

  function leave() {
    var here = location.pathname + location.search;
    beforeLeaving().then(function () {
      location.assign("/login?reason=idle&next=" + encodeURIComponent(here));
    });
  }

  // --- Leaving (sign-out, idle expiry): the softphone (phone.js) first ends any call and
  // unregisters. It hears "portal:leave" and hands back a promise; we wait a little at most. ---
  function beforeLeaving() {
    var waits = [];
    document.dispatchEvent(new CustomEvent("portal:leave", {
      detail: { wait: function (promise) { waits.push(promise); } },
    }));
    if (!waits.length) return Promise.resolve();
    return Promise.race([Promise.all(waits), new Promise(function (resolve) { setTimeout(resolve, 3000); })]);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form.signout") || form.dataset.leaving) return;
    event.preventDefault();
    form.dataset.leaving = "true";
    beforeLeaving().then(function () { form.submit(); });
  });

  function checkSession(again) {
    fetch("/session", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (status) {
        if (status.signed_in && status.remaining > 0) armIdle(status.remaining);
        else if (!again) checkSession(true);
        else leave();
      })
      .catch(function () { armIdle(30); }); // offline for a moment: ask again soon
  }

  function idleSeconds() {
    var value = document.body && document.body.dataset.sessionIdle;
    return value ? parseInt(value, 10) : 0;
  }

  document.addEventListener("htmx:after:request", function () {
    if (idleSeconds()) armIdle(idleSeconds());
  });

  // --- Focus after a swap. htmx keeps focus only on an element with an id, so when the focused
  // button or tab link is swapped away (or hidden in the closed menu) focus would fall to the
  // top of the page. It goes where the reader is instead: the first field in error (the
  // templates mark it autofocus, which htmx honours first), else the message the swap brought,
  // which is read out when focused (a live region that arrives with the swap may not be), else
  // the start of the content. ---
  function focusLost() {
    var active = document.activeElement;
    return !active || active === document.body || !active.isConnected || active.getClientRects().length === 0;
  }

  function firstMessage(root) {
    var found = root ? root.querySelectorAll("[role='alert'], [role='status']") : [];
    for (var i = 0; i < found.length; i++) {
      if (found[i].textContent.trim()) return found[i];
    }
    return null;
  }

  function placeFocus() {
    if (!focusLost()) return;
    var main = document.getElementById("main");
    var target = document.querySelector("[aria-invalid='true']") || firstMessage(main) || main;
    if (!target) return;
    if (!target.matches("a[href], button, input, select, textarea, [tabindex]")) target.setAttribute("tabindex", "-1");
    target.focus();
  }

  document.addEventListener("htmx:after:swap", function () {
    setMenu(false);
    placeFocus();
  });

  function start() {
    showTheme();
    if (idleSeconds()) armIdle(idleSeconds());
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
