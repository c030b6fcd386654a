// The softphone: SIP over WebSocket with JsSIP (static/vendor/jssip.min.js), WebRTC audio.
//
// It lives in the page shell (components/_phone.html), outside the #main that htmx swaps, so
// a call outlives tab switches. It only sets data-* attributes and texts on that markup; the
// CSS decides what shows, and the pattern gallery renders every state from the same markup.
// The words come from portal/phone/view.py through data-texts, so they live in one place.
//
// One browser, one phone: the tab holding the Web Lock "portal-phone" registers; the others
// wait in the lock's queue (so closing the holder hands the phone to one of them) and offer
// "Use Here", which steals the lock. The holder tells them (BroadcastChannel) when it is in a
// call: they say so, and "Use Here" asks before it ends that call. Credentials come from
// /phone/credentials (short-lived, never stored) and are renewed before they run out.
(function () {
  "use strict";

  var root = document.querySelector("[data-phone-live]");
  if (!root || typeof JsSIP === "undefined") return;

  var TEXTS = JSON.parse(root.getAttribute("data-texts"));
  var LOCK = "portal-phone";
  var ICE_SECONDS = 1; // JsSIP waits for ICE gathering to finish, which may never happen
  var STOP_SECONDS = 2; // how long sign-out waits for the phone to unregister
  var MIN_REFRESH_SECONDS = 20;
  var RETRY_FIRST_SECONDS = 2; // a phone system that failed to answer: try again, waiting longer
  var RETRY_MAX_SECONDS = 60; // each time, up to this

  var el = {
    status: root.querySelector("[data-phone-status]"),
    message: root.querySelector("[data-phone-message]"),
    party: root.querySelector("[data-phone-party]"),
    duration: root.querySelector("[data-phone-duration]"),
    keys: root.querySelector("[data-phone-keys]"),
    mute: root.querySelector("[data-phone-mute]"),
    hold: root.querySelector("[data-phone-hold]"),
    keypad: root.querySelector("[data-phone-keypad]"),
    dial: root.querySelector("[data-phone-dial]"),
    number: root.querySelector("[data-phone-number]"),
    dialog: document.querySelector("[data-phone-incoming]"),
    confirm: document.querySelector("[data-phone-confirm]"),
    callerName: document.querySelector("[data-caller-name]"),
    callerNumber: document.querySelector("[data-caller-number]"),
    audio: document.querySelector("[data-phone-audio]"),
  };

  // --- What shows: one view, rendered onto the shell's attributes and texts. ---
  var view = { state: "connecting", reason: null, party: "", muted: false, held: false, remoteHeld: false, keypad: false };

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, name) { return values[name] || ""; });
  }

  function statusText() {
    var key = view.state;
    if (key === "incall" && view.held) key = "held";
    else if (key === "incall" && view.remoteHeld) key = "remote-held";
    return fill(TEXTS.status[key], { reason: TEXTS.reasons[view.reason] || "", party: view.party });
  }

  function flag(name, on) {
    if (on) root.setAttribute(name, "");
    else root.removeAttribute(name);
  }

  function render() {
    root.dataset.state = view.state;
    if (view.reason) root.dataset.reason = view.reason;
    else delete root.dataset.reason;
    flag("data-muted", view.muted);
    flag("data-held", view.held);
    flag("data-remote-held", view.remoteHeld);
    flag("data-keypad", view.keypad);
    var text = statusText();
    if (el.status.textContent !== text) el.status.textContent = text; // each change is read out once
    el.party.textContent = view.party;
    el.mute.setAttribute("aria-pressed", view.muted ? "true" : "false");
    el.hold.textContent = view.held ? "Resume" : "Hold";
    el.keypad.setAttribute("aria-expanded", view.keypad ? "true" : "false");
    keepFocus();
    tellTabs();
  }

  // A control that a state change hid (Call once dialling, Hang Up once the call ends) would
  // drop keyboard focus to the top of the page: it goes to what this state offers instead.
  function keepFocus() {
    var active = document.activeElement;
    if (!active || !root.contains(active) || active.getClientRects().length) return;
    var next = ["[data-phone-hangup]", "[data-phone-number]", "[data-phone-reconnect]", "[data-phone-use-here]"]
      .map(function (selector) { return root.querySelector(selector); })
      .filter(function (candidate) { return candidate && candidate.getClientRects().length; })[0];
    if (next) next.focus();
  }

  function set(changes) {
    for (var key in changes) view[key] = changes[key];
    render();
  }

  function say(failure, party) {
    el.message.textContent = failure ? fill(TEXTS.failures[failure], { party: party || "" }) : "";
  }

  // --- Credentials: fetched, never stored; renewed before they run out. ---
  var config = null;
  var refreshTimer = null;

  function fetchConfig() {
    return fetch(root.dataset.credentialsUrl, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 401) throw new Failure("signed-out");
      if (response.status === 404) throw new Failure("no-system");
      if (!response.ok) throw new Failure("unreachable");
      return response.json();
    }, function () { throw new Failure("unreachable"); });
  }

  function Failure(reason) { this.reason = reason; }

  function scheduleRefresh(ttl) {
    clearTimeout(refreshTimer);
    var seconds = Math.max(MIN_REFRESH_SECONDS, ttl * 0.75);
    refreshTimer = setTimeout(refresh, seconds * 1000);
  }

  function refresh() {
    if (!ua) return Promise.resolve();
    return fetchConfig().then(function (fresh) {
      config = fresh;
      if (ua) {
        ua.set("authorization_user", fresh.authorization_user);
        ua.set("password", fresh.password);
      }
      scheduleRefresh(fresh.ttl);
    }, function (failure) {
      if (failure.reason === "signed-out") signedOut();
      else scheduleRefresh(MIN_REFRESH_SECONDS); // a blip: try again soon
    });
  }

  // --- The user agent: registration and the connection to the SIP server. ---
  var ua = null;
  var stopping = false;
  var retriedAuth = false;

  // `retry`: an automatic attempt, which keeps showing why the last one failed until it works.
  function start(retry) {
    stopping = false;
    retriedAuth = false;
    if (!retry) {
      retries = 0;
      say(null);
      set({ state: "connecting", reason: null });
    }
    if (!window.isSecureContext) return disconnect("insecure");
    if (!window.RTCPeerConnection || !navigator.mediaDevices || !window.WebSocket) return disconnect("unsupported");
    microphoneBlocked().then(function (blocked) {
      if (blocked) throw new Failure("microphone");
      return fetchConfig();
    }).then(function (fresh) {
      if (stopping) return;
      config = fresh;
      connect();
      scheduleRefresh(fresh.ttl);
    }).catch(function (failure) {
      if (failure && failure.reason === "signed-out") signedOut();
      else if (failure && failure.reason === "no-system") set({ state: "off", reason: "no-system" });
      else if (failure && failure.reason === "microphone") disconnect("microphone");
      else unreachable();
    });
  }

  // The phone system (or the portal) did not answer: Disconnected, and try again by itself,
  // waiting twice as long each time (with jitter, so that many pages do not come back at once).
  // Reconnect tries at once.
  var retryTimer = null;
  var retries = 0;

  function unreachable() {
    stop().then(function () {
      if (leaving || !holding) return;
      disconnect("unreachable");
      var seconds = Math.min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * Math.pow(2, retries));
      retries += 1;
      seconds = seconds / 2 + Math.random() * seconds / 2;
      retryTimer = setTimeout(function () {
        if (holding && !leaving && view.state === "disconnected" && view.reason === "unreachable") start(true);
      }, seconds * 1000);
    });
  }

  function connect() {
    var socket = new JsSIP.WebSocketInterface(config.ws_url);
    ua = new JsSIP.UA({
      sockets: [socket],
      uri: config.uri,
      authorization_user: config.authorization_user,
      password: config.password,
      display_name: config.display_name,
      register: true,
      session_timers: false,
      user_agent: "Portal softphone",
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 30,
    });
    var mine = ua;
    ua.on("disconnected", function () {
      if (mine !== ua || stopping) return;
      if (!busy()) disconnect("unreachable", true); // JsSIP keeps trying to reconnect
    });
    ua.on("registered", function () {
      if (mine !== ua) return;
      retriedAuth = false;
      retries = 0;
      if (!busy()) set({ state: "ready", reason: null });
    });
    ua.on("unregistered", function () {
      if (mine === ua && !stopping && !busy()) set({ state: "connecting", reason: null });
    });
    ua.on("registrationFailed", function (e) {
      if (mine !== ua || stopping) return;
      var refused = e.cause === JsSIP.C.causes.AUTHENTICATION_ERROR || e.cause === JsSIP.C.causes.REJECTED;
      if (refused && !retriedAuth) {
        // The credentials may have run out while the computer slept: fetch fresh ones once.
        retriedAuth = true;
        refresh().then(function () { if (mine === ua && !stopping) ua.register(); });
        return;
      }
      // Refused twice: a credential problem that trying again will not fix.
      if (refused) stop().then(function () { disconnect("refused"); });
      else unreachable(); // a timeout, a 5xx, or the connection closing before the answer
    });
    ua.on("newRTCSession", function (e) { if (mine === ua && e.originator === "remote") incomingCall(e.session); });
    ua.start();
  }

  function registered() { return !!ua && ua.isRegistered(); }
  function busy() { return !!session || !!incoming; }

  function disconnect(reason, keepTrying) {
    if (!keepTrying && ua) stop();
    set({ state: "disconnected", reason: reason });
  }

  // Ends any call, unregisters, and closes the connection; resolves when done (or after a wait).
  function stop() {
    stopping = true;
    clearTimeout(refreshTimer);
    clearTimeout(retryTimer);
    hangUp();
    declineIncoming(480);
    var old = ua;
    ua = null;
    if (!old) return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(finish, STOP_SECONDS * 1000);
      function finish() {
        clearTimeout(timer);
        try { old.stop(); } catch (e) { /* already stopped */ }
        resolve();
      }
      if (!old.isRegistered()) return finish();
      old.on("unregistered", finish);
      old.on("registrationFailed", finish);
      try { old.unregister(); } catch (e) { finish(); }
    });
  }

  function signedOut() {
    stop().then(function () {
      set({ state: "disconnected", reason: "signed-out" });
      var here = location.pathname + location.search;
      location.assign("/login?next=" + encodeURIComponent(here));
    });
  }

  // Microphone access blocked for this site: say so before anyone tries to call.
  var micStatus = null;

  function microphoneBlocked() {
    if (!navigator.permissions || !navigator.permissions.query) return Promise.resolve(false);
    return navigator.permissions.query({ name: "microphone" }).then(function (status) {
      if (!micStatus) {
        micStatus = status;
        status.addEventListener("change", function () {
          if (status.state !== "denied" && view.state === "disconnected" && view.reason === "microphone" && holding) start();
        });
      }
      return status.state === "denied";
    }, function () { return false; });
  }

  // --- Calls. ---
  var session = null; // the call in progress (outgoing or answered)
  var incoming = null; // a call ringing, not yet answered
  var incomingParty = "";
  var startedAt = 0;
  var tick = null;

  function pcConfig() {
    return { iceServers: config && config.ice_servers ? config.ice_servers : [] };
  }

  function lastNumberKey() { return "portal-phone-last:" + (config ? config.uri : ""); }

  function remember(number) {
    try { localStorage.setItem(lastNumberKey(), number); } catch (e) { /* storage blocked */ }
  }

  function lastNumber() {
    try { return localStorage.getItem(lastNumberKey()) || ""; } catch (e) { return ""; }
  }

  function dial() {
    if (view.state !== "ready" || !ua) return;
    var typed = el.number.value.replace(/[\s().-]/g, "");
    if (!typed) {
      el.number.value = lastNumber(); // an empty Call recalls the last number; the next one dials
      el.number.focus();
      return;
    }
    if (!/^\+?[0-9*#]{1,32}$/.test(typed)) {
      say("invalid");
      el.number.focus();
      return;
    }
    say(null);
    remember(typed);
    activity();
    var call;
    try {
      call = ua.call(typed, {
        mediaConstraints: { audio: true, video: false },
        pcConfig: pcConfig(),
        rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
        eventHandlers: {
          // An outgoing call's connection exists before newRTCSession fires: take it here.
          peerconnection: function (e) { listenForAudio(e.peerconnection); },
        },
      });
    } catch (e) {
      say("invalid");
      return;
    }
    session = call;
    watch(call, typed, true);
    set({ state: "calling", party: typed, muted: false, held: false, remoteHeld: false, keypad: false });
    el.keys.textContent = "";
    ringback(true);
  }

  function incomingCall(call) {
    // A second call while busy, or a phone that cannot take calls now: refused as busy.
    if (busy() || view.state !== "ready") {
      call.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    incoming = call;
    var identity = call.remote_identity;
    var number = partyNumber(identity.uri.user);
    incomingParty = identity.display_name || number;
    el.callerName.textContent = incomingParty;
    el.callerNumber.textContent = identity.display_name ? number : "";
    call.on("peerconnection", function (e) { listenForAudio(e.peerconnection); });
    watch(call, incomingParty, false);
    try { el.dialog.showModal(); } catch (e) { el.dialog.setAttribute("open", ""); }
    ring(true);
  }

  // "201-wickedsprockets" from this extension's own tenant shows as "201".
  function partyNumber(user) {
    var suffix = config ? "-" + config.tenant : "";
    return suffix && user.slice(-suffix.length) === suffix ? user.slice(0, -suffix.length) : user;
  }

  function answer() {
    if (!incoming) return;
    var call = incoming;
    closeDialog();
    ring(false);
    activity();
    incoming = null;
    session = call;
    say(null);
    set({ state: "calling", party: incomingParty, muted: false, held: false, remoteHeld: false, keypad: false });
    el.keys.textContent = "";
    call.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: pcConfig() });
  }

  function declineIncoming(code) {
    if (!incoming) return;
    var call = incoming;
    incoming = null;
    closeDialog();
    ring(false);
    try { call.terminate({ status_code: code, reason_phrase: code === 603 ? "Decline" : "Temporarily Unavailable" }); } catch (e) { /* gone */ }
  }

  function hangUp() {
    if (!session) return;
    try { session.terminate(); } catch (e) { /* already over */ }
  }

  function closeDialog() {
    if (el.dialog.open) el.dialog.close();
  }

  // One set of listeners for both directions of a call.
  function watch(call, party, outgoing) {
    var iceTimer = null;
    call.on("icecandidate", function (e) {
      if (iceTimer) return;
      iceTimer = setTimeout(function () { iceTimer = null; e.ready(); }, ICE_SECONDS * 1000);
    });
    call.on("progress", function () { if (outgoing) set({ state: "calling" }); });
    call.on("accepted", function () {
      ringback(false);
      if (call.connection) listenForAudio(call.connection);
    });
    call.on("confirmed", function () {
      if (call !== session) return;
      ringback(false);
      if (call.connection) playRemote(call.connection);
      startedAt = Date.now();
      clearInterval(tick);
      tick = setInterval(showDuration, 1000);
      showDuration();
      keepAlive(true);
      set({ state: "incall", party: party });
    });
    call.on("hold", function (e) { if (e.originator === "local") set({ held: true }); else set({ remoteHeld: true }); });
    call.on("unhold", function (e) { if (e.originator === "local") set({ held: false }); else set({ remoteHeld: false }); });
    call.on("muted", function () { set({ muted: true }); });
    call.on("unmuted", function () { set({ muted: false }); });
    call.on("newDTMF", function (e) {
      // Keys pressed at the other end (SIP INFO): kept on the call panel for whoever needs them.
      if (e.originator === "remote") root.dataset.dtmfReceived = (root.dataset.dtmfReceived || "") + e.dtmf.tone;
    });
    // JsSIP reports the failure first, then the browser's reason.
    call.on("getusermediafailed", function (e) { mediaError = e && e.name ? e.name : ""; });
    call.on("ended", function () { finished(call); });
    call.on("failed", function (e) {
      if (e.cause === JsSIP.C.causes.USER_DENIED_MEDIA_ACCESS) microphoneProblem = true;
      var failure = outgoing && !microphoneProblem ? failureOf(e) : null;
      finished(call);
      if (failure) say(failure, party);
    });
  }

  var microphoneProblem = false;
  var mediaError = "";

  function failureOf(e) {
    var code = e.message && e.message.status_code;
    var causes = JsSIP.C.causes;
    if (e.originator === "local" && e.cause === causes.CANCELED) return null; // we hung up
    if (code === 486 || code === 600 || e.cause === causes.BUSY) return "busy";
    if (code === 603 || code === 403 || e.cause === causes.REJECTED) return "declined";
    if (code === 404 || code === 604 || code === 484 || e.cause === causes.NOT_FOUND || e.cause === causes.ADDRESS_INCOMPLETE) return "not-found";
    // A call that rang out: Kamailio says "480 No Answer", others 408.
    if (code === 408 || e.cause === causes.NO_ANSWER || (code === 480 && /no answer/i.test(e.message.reason_phrase || ""))) return "no-answer";
    return "unavailable";
  }

  function finished(call) {
    if (call === incoming) {
      incoming = null;
      closeDialog();
      ring(false);
    }
    if (call !== session) return;
    session = null;
    ringback(false);
    clearInterval(tick);
    keepAlive(false);
    el.audio.srcObject = null;
    delete root.dataset.dtmfReceived;
    set({ muted: false, held: false, remoteHeld: false, keypad: false, party: "" });
    if (microphoneProblem) {
      microphoneProblem = false;
      stop().then(function () {
        var missing = mediaError === "NotFoundError" || mediaError === "OverconstrainedError";
        mediaError = "";
        disconnect(missing ? "no-microphone" : "microphone");
      });
      return;
    }
    if (stopping) return;
    if (registered()) set({ state: "ready", reason: null });
    else disconnect("unreachable", true);
  }

  function showDuration() {
    var seconds = Math.floor((Date.now() - startedAt) / 1000);
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    var text = (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (s < 10 ? "0" : "") + s;
    el.duration.textContent = text;
  }

  // --- Audio: the other side's, and the tones this page makes itself. ---
  function listenForAudio(connection) {
    connection.addEventListener("track", function () { playRemote(connection); });
  }

  function playRemote(connection) {
    var stream = new MediaStream();
    connection.getReceivers().forEach(function (receiver) {
      if (receiver.track && receiver.track.kind === "audio") stream.addTrack(receiver.track);
    });
    el.audio.srcObject = stream;
    var playing = el.audio.play();
    if (playing && playing.catch) playing.catch(function () { /* played on the next gesture */ });
  }

  // Ringtone and ringback, made with WebAudio: two tones, two seconds on, four off.
  var audioContext = null;
  var tones = { ring: null, ringback: null };

  function tone(name, on, volume) {
    if (tones[name]) {
      clearInterval(tones[name].timer);
      tones[name].nodes.forEach(function (node) { try { node.stop(); } catch (e) { /* done */ } });
      tones[name] = null;
    }
    if (!on) return;
    try {
      audioContext = audioContext || new (window.AudioContext || window.webkitAudioContext)();
      if (audioContext.state === "suspended") audioContext.resume();
    } catch (e) { return; }
    var playing = { nodes: [], timer: null };
    function burst() {
      var now = audioContext.currentTime;
      var gain = audioContext.createGain();
      gain.gain.setValueAtTime(0, now);
      gain.gain.linearRampToValueAtTime(volume, now + 0.05);
      gain.gain.setValueAtTime(volume, now + 1.95);
      gain.gain.linearRampToValueAtTime(0, now + 2);
      gain.connect(audioContext.destination);
      [440, 480].forEach(function (frequency) {
        var oscillator = audioContext.createOscillator();
        oscillator.frequency.value = frequency;
        oscillator.connect(gain);
        oscillator.start(now);
        oscillator.stop(now + 2);
        playing.nodes.push(oscillator);
      });
      playing.nodes = playing.nodes.slice(-4);
    }
    burst();
    playing.timer = setInterval(burst, 6000);
    tones[name] = playing;
  }

  function ring(on) { tone("ring", on, 0.15); }
  function ringback(on) { tone("ringback", on, 0.05); }

  // --- Being in a call is using the portal: the session must not end for idleness. ---
  var aliveTimer = null;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers:inherited") || "{}")["X-CSRF-Token"] || "";
    } catch (e) { return ""; }
  }

  function activity() {
    fetch(root.dataset.activityUrl, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-CSRF-Token": csrfToken() },
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) signedOut();
      else if (response.ok) document.dispatchEvent(new CustomEvent("portal:active")); // portal.js re-arms
    }, function () { /* offline for a moment: the next one will do */ });
  }

  function keepAlive(on) {
    clearInterval(aliveTimer);
    aliveTimer = null;
    if (!on) return;
    var idle = parseInt(document.body.dataset.sessionIdle || "0", 10) || 600;
    // Well within the time before portal.js's idle warning (at least half the limit) is due.
    aliveTimer = setInterval(activity, Math.max(1, Math.min(60, idle / 4)) * 1000);
  }

  // --- The controls. ---
  function onPhoneTab() { return !!document.querySelector("#main [data-phone-tab]"); }

  function press(key) {
    if (view.state === "ready") {
      el.number.value += key;
    } else if (view.state === "incall" && session) {
      session.sendDTMF(key, { transportType: "INFO" });
      el.keys.textContent += key;
    }
  }

  root.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("button") : null;
    if (!target) return;
    if (target.hasAttribute("data-key")) press(target.getAttribute("data-key"));
    else if (target.hasAttribute("data-phone-hangup")) hangUp();
    else if (target.hasAttribute("data-phone-reconnect")) stop().then(start);
    else if (target.hasAttribute("data-phone-use-here")) useHere(false);
    else if (target.hasAttribute("data-phone-keypad")) set({ keypad: !view.keypad });
    else if (target.hasAttribute("data-phone-mute") && session) {
      if (view.muted) session.unmute({ audio: true });
      else session.mute({ audio: true });
    } else if (target.hasAttribute("data-phone-hold") && session) {
      activity();
      if (view.held) session.unhold();
      else session.hold();
    }
  });

  el.dial.addEventListener("submit", function (event) {
    event.preventDefault();
    dial();
  });

  el.dialog.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("button") : null;
    if (!target) return;
    if (target.hasAttribute("data-phone-answer")) answer();
    else if (target.hasAttribute("data-phone-decline")) declineIncoming(603);
  });

  // A modal dialog keeps Tab inside it: Chromium lets it out to the browser's own controls.
  function trapFocus(dialog) {
    dialog.addEventListener("keydown", function (event) {
      if (event.key !== "Tab") return;
      var controls = Array.prototype.filter.call(dialog.querySelectorAll("button"), function (control) {
        return !control.disabled && control.getClientRects().length;
      });
      var first = controls[0], last = controls[controls.length - 1];
      if (!first) return;
      if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
      else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
    });
  }
  trapFocus(el.dialog);
  trapFocus(el.confirm);

  // Esc declines; so does anything else that closes the dialog while the call still rings.
  el.dialog.addEventListener("cancel", function (event) {
    event.preventDefault();
    declineIncoming(603);
  });
  el.dialog.addEventListener("close", function () { if (incoming) declineIncoming(603); });

  // Digits typed anywhere on the Phone tab go to the number (or, keypad open, to the call).
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || !onPhoneTab()) return;
    var target = event.target;
    if (target instanceof Element && target.closest("input, textarea, select, [contenteditable], dialog")) return;
    var digit = /^[0-9*#+]$/.test(event.key);
    if (view.state === "ready") {
      if (digit) {
        event.preventDefault();
        el.number.value += event.key;
        el.number.focus();
      } else if (event.key === "Enter" && !(target instanceof Element && target.closest("a, button"))) {
        event.preventDefault();
        dial();
      }
    } else if (digit && view.state === "incall" && view.keypad && event.key !== "+") {
      event.preventDefault();
      press(event.key);
    }
  });

  // --- One phone per browser: the Web Lock, and word between the tabs. ---
  var holding = false;
  var releaseLock = null;
  var waiting = null; // AbortController of this tab's place in the lock's queue
  var channel = "BroadcastChannel" in window ? new BroadcastChannel(LOCK) : null;

  function holdLock(lock) {
    if (!lock) return null;
    holding = true;
    toldInCall = null;
    closeConfirm();
    if (!leaving) start();
    return new Promise(function (resolve) { releaseLock = resolve; });
  }

  function lost() {
    holding = false;
    releaseLock = null;
    holderInCall = false; // the tab that took the phone has just started
    stop().then(function () {
      if (!leaving) { showElsewhere(); queue(); }
    });
  }

  function showElsewhere() {
    set({ state: "disconnected", reason: holderInCall ? "elsewhere-call" : "elsewhere" });
  }

  function queue() {
    if (waiting) return;
    waiting = new AbortController();
    navigator.locks.request(LOCK, { signal: waiting.signal }, function (lock) {
      waiting = null;
      return holdLock(lock);
    }).then(null, function (error) {
      if (error && error.name === "AbortError" && holding) lost(); // stolen by "Use Here"
    });
  }

  function elect() {
    if (!navigator.locks) { holding = true; start(); return; }
    navigator.locks.request(LOCK, { ifAvailable: true }, function (lock) {
      if (lock) return holdLock(lock);
      showElsewhere();
      if (channel) channel.postMessage({ type: "ask" }); // is the holder in a call?
      queue();
      return null;
    }).then(null, function (error) {
      if (error && error.name === "AbortError" && holding) lost();
    });
  }

  // Taking the phone ends the holder's call: only after asking.
  function useHere(confirmed) {
    if (!navigator.locks || holding) return;
    if (holderInCall && !confirmed) {
      try { el.confirm.showModal(); } catch (e) { el.confirm.setAttribute("open", ""); }
      return;
    }
    closeConfirm();
    if (waiting) { waiting.abort(); waiting = null; }
    navigator.locks.request(LOCK, { steal: true }, holdLock).then(null, function (error) {
      if (error && error.name === "AbortError" && holding) lost();
    });
  }

  // --- Leaving: sign-out (in any tab) and idle expiry end the call and unregister first. ---
  var leaving = false;

  document.addEventListener("portal:leave", function (event) {
    leaving = true;
    var done = holding ? stop() : askHolderToStop();
    if (event.detail && event.detail.wait) event.detail.wait(done);
  });

  function askHolderToStop() {
    if (!channel) return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(resolve, STOP_SECONDS * 1000);
      channel.addEventListener("message", function (event) {
        if (event.data && event.data.type === "stopped") { clearTimeout(timer); resolve(); }
      });
      channel.postMessage({ type: "leave" });
    });
  }

  // The holder tells the other tabs whether it is in a call, so that they can say so.
  var holderInCall = false;
  var toldInCall = null;

  function tellTabs() {
    if (!channel || !holding) return;
    var inCall = view.state === "calling" || view.state === "incall";
    if (inCall === toldInCall) return;
    toldInCall = inCall;
    channel.postMessage({ type: "holder", inCall: inCall });
  }

  function closeConfirm() {
    if (el.confirm.open) el.confirm.close();
  }

  el.confirm.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("button") : null;
    if (!target) return;
    if (target.hasAttribute("data-phone-confirm-yes")) useHere(true);
    else if (target.hasAttribute("data-phone-confirm-no")) closeConfirm();
  });

  if (channel) {
    channel.addEventListener("message", function (event) {
      var data = event.data || {};
      if (data.type === "ask" && holding) {
        toldInCall = null;
        tellTabs();
      } else if (data.type === "holder" && !holding) {
        holderInCall = !!data.inCall;
        if (!holderInCall) closeConfirm(); // nothing left to end
        if (view.state === "disconnected" && /^elsewhere/.test(view.reason || "")) showElsewhere();
      }
    });
    channel.addEventListener("message", function (event) {
      if (!event.data || event.data.type !== "leave" || !holding) return;
      leaving = true;
      stop().then(function () {
        set({ state: "disconnected", reason: "signed-out" });
        channel.postMessage({ type: "stopped" });
      });
    });
  }

  // Leaving the page mid-call ends the call: the browser asks first.
  window.addEventListener("beforeunload", function (event) {
    if (!session || stopping) return;
    event.preventDefault();
    event.returnValue = "";
  });

  // Closing or reloading the tab: unregister as it goes, and hang up so the other side knows.
  window.addEventListener("pagehide", function () {
    if (!ua) return;
    stopping = true;
    hangUp();
    try { ua.stop(); } catch (e) { /* closing anyway */ }
  });

  elect();
})();
