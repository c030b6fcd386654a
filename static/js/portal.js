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

  // --- Idle expiry: a warning before it, and the login screen when the time is up. ---
  // The server is the judge: the page's timers only say when to ask /session, which does not
  // count as activity. Shortly before the end (two minutes; half the limit when that is under
  // four) the page asks how long is really left: another tab, or a call, may have kept the
  // session alive, and then it re-arms; else it opens the warning and counts down, asking again
  // now and then, as other tabs may still slide it. When the time is up it asks once more
  // before leaving: a password change may have given the session a new id while the question
  // was on its way, and the answer was about the old one.
  var WARN_SECONDS = 120;
  var idleTimer = null;
  var warning = null; // while the warning is open: its deadline, its timers, where focus was
  var sessionChannel = null;
  try { sessionChannel = new BroadcastChannel("portal-session"); } catch (e) { /* the poll does */ }

  function idleSeconds() {
    var value = document.body && document.body.dataset.sessionIdle;
    return value ? parseInt(value, 10) || 0 : 0;
  }

  function warnSeconds() {
    var lead = Math.min(WARN_SECONDS, Math.floor(idleSeconds() / 2));
    return lead >= 2 && document.querySelector("[data-idle-warning]") ? lead : 0;
  }

  function askLater(seconds) {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { checkSession(false); }, Math.max(1, seconds) * 1000 + 500);
  }

  // A session with `remaining` seconds left: ask again when the warning would be due.
  function armIdle(remaining) {
    askLater(remaining - warnSeconds());
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
    if (!(form instanceof HTMLFormElement) || !form.matches("form.signout, form[data-signout]") || form.dataset.leaving) return;
    event.preventDefault();
    form.dataset.leaving = "true";
    beforeLeaving().then(function () { form.submit(); });
  });

  function checkSession(again) {
    fetch("/session", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (status) {
        if (status.signed_in && status.remaining > warnSeconds() + 1) {
          closeWarning();
          armIdle(status.remaining);
        } else if (status.signed_in && status.remaining > 0) {
          if (warnSeconds()) warn(status.remaining);
          else askLater(status.remaining);
        } else if (!again) checkSession(true);
        else leave();
      })
      .catch(function () { // offline for a moment: ask again soon
        askLater(warning ? Math.min(5, (warning.deadline - Date.now()) / 1000) : 30);
      });
  }

  // --- The warning: a modal dialog (layout.html) whose text is read when it opens; the
  // countdown in it changes every second but is no live region, so it is not read again. ---
  function warningDialog() { return document.querySelector("[data-idle-warning]"); }

  function showCountdown() {
    var dialog = warningDialog();
    var shown = dialog && dialog.querySelector("[data-idle-countdown]");
    if (!warning || !shown) return;
    var left = Math.max(0, Math.ceil((warning.deadline - Date.now()) / 1000));
    shown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
  }

  function warn(remaining) {
    var dialog = warningDialog();
    if (!warning) {
      warning = { returnFocus: document.activeElement };
      var poll = Math.max(2, Math.min(15, Math.floor(warnSeconds() / 4)));
      warning.tick = setInterval(showCountdown, 250);
      warning.poll = setInterval(function () { checkSession(false); }, poll * 1000);
    }
    warning.deadline = Date.now() + remaining * 1000;
    showCountdown();
    if (!dialog.open) {
      try { dialog.showModal(); } catch (e) { dialog.setAttribute("open", ""); }
    }
    askLater(remaining); // at zero: ask, and leave if it is over
  }

  function closeWarning() {
    if (!warning) return;
    clearInterval(warning.tick);
    clearInterval(warning.poll);
    var back = warning.returnFocus;
    warning = null;
    var dialog = warningDialog();
    var stay = dialog && dialog.querySelector("[data-idle-stay]");
    if (stay) { stay.disabled = false; stay.removeAttribute("aria-busy"); }
    if (dialog && dialog.open) dialog.close();
    if (back && back !== document.body && back.isConnected && typeof back.focus === "function") back.focus();
  }

  // The session was used here (a request that slides it): re-arm, and tell the other tabs.
  function activeHere(remaining) {
    if (!idleSeconds()) return;
    closeWarning();
    armIdle(remaining);
    if (sessionChannel) sessionChannel.postMessage({ type: "active", remaining: remaining });
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers:inherited") || "{}")["X-CSRF-Token"] || "";
    } catch (e) { return ""; }
  }

  // Stay Signed In: one request that slides the session.
  function staySignedIn() {
    var stay = warningDialog().querySelector("[data-idle-stay]");
    if (stay.disabled) return;
    stay.disabled = true;
    stay.setAttribute("aria-busy", "true");
    fetch("/session", {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json", "X-CSRF-Token": csrfToken() },
    }).then(function (response) {
      if (!response.ok) return checkSession(false); // too late: the check leaves
      return response.json().then(function (status) { activeHere(status.remaining); });
    }).catch(function () { /* offline for a moment: the button may be pressed again */ })
      .then(function () {
        stay.disabled = false;
        stay.removeAttribute("aria-busy");
      });
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (target && target.closest("[data-idle-stay]")) staySignedIn();
  });

  // Esc says the user is here, as Stay Signed In does; the dialog closes when that is done.
  document.addEventListener("cancel", function (event) {
    if (event.target !== warningDialog() || !warning) return;
    event.preventDefault();
    staySignedIn();
  }, true);

  // An answer that sends the page to sign in (HX-Redirect), or an error, slid nothing.
  document.addEventListener("htmx:after:request", function (event) {
    var response = event.detail && event.detail.ctx && event.detail.ctx.response;
    if (!response || response.status >= 400 || response.headers.get("HX-Redirect")) return;
    activeHere(idleSeconds());
  });
  // The softphone tells when it kept the session alive during a call (phone.js).
  document.addEventListener("portal:active", function () { activeHere(idleSeconds()); });

  if (sessionChannel) {
    sessionChannel.addEventListener("message", function (event) {
      var data = event.data || {};
      if (data.type !== "active" || !idleSeconds()) return;
      closeWarning();
      armIdle(typeof data.remaining === "number" ? data.remaining : idleSeconds());
    });
  }

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

  // --- Password fields (components/_ui.html): the show-password toggle and the caps-lock
  // warning. Listeners on the document, so fields that an htmx swap brings work too. ---
  function togglesIn(root) {
    return root.querySelectorAll("[data-password-toggle]");
  }

  function showPassword(toggle, show) {
    var input = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!input) return;
    var start = input.selectionStart, end = input.selectionEnd;
    input.type = show ? "text" : "password";
    toggle.setAttribute("aria-pressed", show ? "true" : "false");
    // A change of type may move the caret: put it (or the selection) back where it was.
    try { input.setSelectionRange(start, end); } catch (e) { /* no caret to keep */ }
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target instanceof Element ? event.target.closest("[data-password-toggle]") : null;
    if (toggle) showPassword(toggle, toggle.getAttribute("aria-pressed") !== "true");
  });

  // A mouse or touch press leaves focus (and the caret) in the field being typed in; from the
  // keyboard focus stays on the toggle, to press it again.
  document.addEventListener("mousedown", function (event) {
    var toggle = event.target instanceof Element ? event.target.closest("[data-password-toggle]") : null;
    var input = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
    if (input && document.activeElement === input) event.preventDefault();
  });

  // A password goes to the server hidden again, and is not left on show in the page.
  document.addEventListener("submit", function (event) {
    if (!(event.target instanceof HTMLFormElement)) return;
    togglesIn(event.target).forEach(function (toggle) { showPassword(toggle, false); });
  });

  function capsWarning(input) {
    var field = input.closest(".field");
    return field ? field.querySelector("[data-caps-warning]") : null;
  }

  function sayCaps(input, on) {
    var warning = capsWarning(input);
    var words = on ? warning && warning.dataset.capsWarning : "";
    if (warning && warning.textContent !== words) warning.textContent = words;
  }

  // Both key events: where the Caps Lock key itself is pressed, some systems report the new
  // state on keydown and others only on keyup.
  function checkCaps(event) {
    var input = event.target instanceof Element ? event.target.closest(".password-input input") : null;
    if (input && typeof event.getModifierState === "function") sayCaps(input, event.getModifierState("CapsLock"));
  }
  document.addEventListener("keydown", checkCaps);
  document.addEventListener("keyup", checkCaps);
  document.addEventListener("focusout", function (event) {
    var input = event.target instanceof Element ? event.target.closest(".password-input input") : null;
    if (input) sayCaps(input, false);
  });

  function start() {
    showTheme();
    activeHere(idleSeconds()); // loading this page slid the session
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
