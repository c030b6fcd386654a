// Passkeys (WebAuthn): "Sign In with a Passkey" and the browser's passkey autofill on the login
// page, "Add a Passkey" in Settings. Loaded only where the portal's base URL has a domain name.
// Without WebAuthn (or without this script) the passkey buttons stay hidden: `html.passkeys`
// shows them. Listeners are delegated from the document, so htmx swaps need nothing more.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) return;
  document.documentElement.classList.add("passkeys");

  // --- base64url <-> ArrayBuffer, as the server's JSON carries binary values. ---
  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBuffer(item.id), transports: item.transports };
    });
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.allowCredentials = withIds(json.allowCredentials);
    return options;
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBuffer(json.user.id) });
    options.excludeCredentials = withIds(json.excludeCredentials);
    return options;
  }

  // The credential as py_webauthn reads it (what PublicKeyCredential.toJSON() gives, by hand
  // for browsers without it).
  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) out.response.transports = response.getTransports();
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      if (response.userHandle) out.response.userHandle = toText(response.userHandle);
    }
    return JSON.stringify(out);
  }

  function post(url, form, fields, signal) {
    var body = new URLSearchParams(fields);
    var token = form.querySelector("input[name=csrf_token]");
    return fetch(url, {
      method: "POST",
      body: body,
      signal: signal,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token ? token.value : "", "HX-Request": "true" }
    });
  }

  // A signed-out session (or a CSRF refusal) answers with where to go instead: go there.
  function redirected(response) {
    var to = response.headers.get("HX-Redirect");
    if (to) window.location.assign(to);
    return Boolean(to);
  }

  function isJSON(response) {
    return (response.headers.get("content-type") || "").indexOf("application/json") === 0;
  }

  // --- Signing in. ---
  // The request in progress (the autofill's, usually): ended, and settled, before another
  // starts, as the browser refuses a second request while one is pending.
  var pending = null;

  function loginError(form, message) {
    var box = form.querySelector("#login-error");
    if (box) box.textContent = message;
  }

  function signIn(form, conditional) {
    var before = Promise.resolve();
    if (pending) {
      pending.controller.abort();
      before = pending.settled;
    }
    var controller = new AbortController();
    var run = before.then(function () {
      return post("/login/passkey/options", form, {}, controller.signal);
    }).then(function (response) {
      if (!response.ok) throw new Error("options");
      return response.json();
    }).then(function (json) {
      var request = { publicKey: requestOptions(json), signal: controller.signal };
      if (conditional) request.mediation = "conditional";
      return navigator.credentials.get(request);
    }).then(function (credential) {
      if (!credential) return;
      var next = form.querySelector("input[name=next]");
      var fields = { credential: credentialJSON(credential) };
      if (next) fields.next = next.value;
      return post("/login/passkey", form, fields).then(function (response) {
        return response.json().then(function (answer) {
          // Refused: say so. The autofill is not offered again until the page is: a passkey
          // that was refused once would be refused again.
          if (answer.redirect) window.location.assign(answer.redirect);
          else loginError(form, answer.error || "");
        });
      });
    }).catch(function (error) {
      if (controller.signal.aborted || (error && error.name === "AbortError")) return;
      if (!conditional && error && error.name === "NotAllowedError") return; // dismissed
      if (!conditional) loginError(form, "That passkey could not sign you in. Try again, or sign in with your password.");
    });
    pending = { controller: controller, settled: run };
    return run;
  }

  function autofill() {
    var form = document.getElementById("login-form");
    if (!form || !PublicKeyCredential.isConditionalMediationAvailable) return;
    PublicKeyCredential.isConditionalMediationAvailable().then(function (yes) {
      if (yes) signIn(form, true);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-passkey-signin]");
    if (!button) return;
    event.preventDefault();
    signIn(button.form, false);
  });

  // --- Adding one (Settings). ---
  // The section the server answered with, in place of this one; an answer without one (an
  // error page) fails the attempt.
  function showSection(html) {
    var section = document.getElementById("passkeys");
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#passkeys");
    if (!section || !fresh) throw new Error("no section");
    section.replaceWith(fresh);
    if (window.htmx) window.htmx.process(fresh);
    var focus = fresh.querySelector("[autofocus]");
    if (focus) focus.focus();
  }

  function failed(form, message) {
    var status = document.getElementById("passkeys-status");
    if (!status) return;
    status.className = "notice notice--error";
    status.textContent = message;
    status.setAttribute("tabindex", "-1");
    status.focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-passkey-add]")) return;
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    var fields = new FormData(form);
    var done = function () { if (button) button.disabled = false; };
    post(form.action, form, fields).then(function (response) {
      if (redirected(response)) return;
      if (!isJSON(response)) return response.text().then(showSection);
      return response.json().then(function (json) {
        return navigator.credentials.create({ publicKey: creationOptions(json) });
      }).then(function (credential) {
        return post("/settings/passkeys/add", form, { credential: credentialJSON(credential) });
      }).then(function (response) {
        if (redirected(response)) return;
        return response.text().then(showSection);
      });
    }).catch(function (error) {
      done();
      if (error && error.name === "InvalidStateError") failed(form, "This device already holds one of your passkeys.");
      else failed(form, "The passkey was not added. Please try again.");
    });
  });

  // A swapped-in login form (after a wrong password) has a new username field: offer the
  // passkeys there again.
  document.addEventListener("htmx:after:swap", function () {
    var field = document.getElementById("username");
    if (field && field.form && field.form.id === "login-form") autofill();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", autofill);
  else autofill();
})();
