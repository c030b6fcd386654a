"""The real Kamailio (and coturn) with deploy/'s configuration, spoken to over SIP/WebSocket.

Everything runs inside a private network namespace (tests/netns.py); the phones are
tests/sipclient.py, which addresses itself the way JsSIP does (`.invalid` hosts).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from portal.phone.credentials import Credentials, ephemeral_credentials
from portal.phone.sipserver import SipServer, SipServerError, available
from tests.netns import Netns, unavailable
from tests.sipclient import Message, Phone, caller_dialog

RING_MS = 2000
ANSWER_MS = 1000  # tm only ever lengthens the wait on "Ringing": keep it under RING_MS
QUIET = 1.0  # seconds a phone that must not be called listens for a stray INVITE


@pytest.fixture(scope="module")
def server(sip: Callable[..., SipServer]) -> SipServer:
    return sip(ring_ms=RING_MS, answer_ms=ANSWER_MS, turn=True)


def credentials(server: SipServer, user: str, **changes: object) -> Credentials:
    now = float(changes.get("now", time.time()))  # type: ignore[arg-type]
    ttl = int(changes.get("ttl", 600))  # type: ignore[call-overload]
    secret = str(changes.get("secret", server._secret))
    return ephemeral_credentials(secret, user, now, ttl)


@pytest.fixture
def phone(netns: Netns, server: SipServer) -> Iterator[Callable[..., Phone]]:
    """`phone("201-wickedsprockets")` opens a WebSocket; `register=True` also registers it."""
    opened: list[Phone] = []

    def open_phone(user: str, *, register: bool = False, creds: Credentials | None = None) -> Phone:
        sock = netns.connect(server.ws_port)
        opened.append(
            Phone.open(sock, server.ws_url, server.domain, user, creds or credentials(server, user))
        )
        if register:
            response = opened[-1].register()
            assert response.status == 200, f"{user} did not register:\n{response}"
        return opened[-1]

    yield open_phone
    for each in opened:
        each.close()


def final(phone: Phone, timeout: float = 5.0) -> Message:
    """The next final response, skipping 180/183."""
    while True:
        response = phone.expect_response(timeout)
        if response.status >= 200:
            return response


def incoming(phone: Phone, timeout: float = 5.0) -> Message:
    message = phone.receive(timeout)
    assert message is not None, f"{phone.user} was never called"
    assert message.method == "INVITE" and not message.is_response, str(message)
    return message


# --- registration -------------------------------------------------------------------------


def test_a_valid_ephemeral_credential_registers(phone: Callable[..., Phone]) -> None:
    response = phone("201-wickedsprockets").register()
    assert response.status == 200
    assert "expires=600" in response.header("Contact")


def test_a_credential_for_another_extension_cannot_register(
    phone: Callable[..., Phone], server: SipServer
) -> None:
    theirs = credentials(server, "202-wickedsprockets")
    assert phone("201-wickedsprockets", creds=theirs).register().status == 403


@pytest.mark.parametrize(
    "changes",
    [{"now": time.time() - 3600, "ttl": 60}, {"secret": "not-the-shared-secret-at-all"}],
    ids=["expired", "wrong secret"],
)
def test_expired_or_forged_credentials_are_refused(
    phone: Callable[..., Phone], server: SipServer, changes: dict[str, object]
) -> None:
    bad = credentials(server, "201-wickedsprockets", **changes)
    assert phone("201-wickedsprockets", creds=bad).register().status == 401


# --- dialling -----------------------------------------------------------------------------


def test_an_extension_number_reaches_the_callers_own_tenant_only(
    phone: Callable[..., Phone],
) -> None:
    ours = phone("202-wickedsprockets", register=True)
    theirs = phone("202-othertenant", register=True)
    caller = phone("201-wickedsprockets")

    caller.invite("202")
    call = incoming(ours)
    assert call.header("From").startswith("<sip:201-wickedsprockets@")
    # Busy is the called phone's answer, passed through unchanged.
    ours.reply(call, 486, "Busy Here", "busy")
    assert final(caller).status == 486
    assert theirs.receive(QUIET) is None


def test_the_other_tenant_dialling_the_same_number_reaches_its_own(
    phone: Callable[..., Phone],
) -> None:
    ours = phone("202-wickedsprockets", register=True)
    theirs = phone("202-othertenant", register=True)
    caller = phone("201-othertenant")

    caller.invite("202")
    theirs.reply(incoming(theirs), 603, "Decline", "no")
    assert final(caller).status == 603
    assert ours.receive(QUIET) is None


def test_a_full_address_in_another_tenant_is_not_found(phone: Callable[..., Phone]) -> None:
    theirs = phone("202-othertenant", register=True)
    caller = phone("201-wickedsprockets")

    caller.invite("202-othertenant")
    assert final(caller).status == 404
    assert theirs.receive(QUIET) is None


def test_a_full_address_in_the_callers_own_tenant_is_dialled(
    phone: Callable[..., Phone],
) -> None:
    ours = phone("202-wickedsprockets", register=True)
    caller = phone("201-wickedsprockets")
    caller.invite("202-wickedsprockets")
    incoming(ours)


def test_nobody_registered_is_not_found(phone: Callable[..., Phone]) -> None:
    caller = phone("201-wickedsprockets")
    caller.invite("209")
    response = final(caller)
    assert (response.status, response.reason) == (404, "Not Found")


def test_a_closed_phone_is_forgotten_at_once(phone: Callable[..., Phone]) -> None:
    gone = phone("203-wickedsprockets", register=True)
    gone.close()
    time.sleep(0.3)
    caller = phone("201-wickedsprockets")
    caller.invite("203")
    assert final(caller).status == 404


def test_a_credential_for_another_extension_cannot_call(
    phone: Callable[..., Phone], server: SipServer
) -> None:
    callee = phone("202-wickedsprockets", register=True)
    impostor = phone("201-wickedsprockets", creds=credentials(server, "203-wickedsprockets"))
    impostor.invite("202")
    assert final(impostor).status == 403
    assert callee.receive(QUIET) is None


def test_a_call_that_rings_unanswered_ends_as_no_answer(phone: Callable[..., Phone]) -> None:
    callee = phone("202-wickedsprockets", register=True)
    caller = phone("201-wickedsprockets")
    caller.invite("202")
    callee.reply(incoming(callee), 180, "Ringing", "ringing")
    assert caller.expect_response().status == 180
    response = final(caller, timeout=RING_MS / 1000 + 2)
    assert (response.status, response.reason) == (480, "No Answer")


def test_the_caller_can_hang_up_while_it_rings(phone: Callable[..., Phone]) -> None:
    callee = phone("202-wickedsprockets", register=True)
    caller = phone("201-wickedsprockets")
    invite = caller.invite("202")
    ringing = incoming(callee)
    callee.reply(ringing, 180, "Ringing", "ringing")
    assert caller.expect_response().status == 180

    caller.cancel(invite)
    assert caller.expect_response().method == "CANCEL"  # 200 from Kamailio, hop by hop
    cancel = callee.receive()
    assert cancel is not None and cancel.method == "CANCEL", str(cancel)
    callee.reply(cancel, 200, "OK")
    callee.reply(ringing, 487, "Request Terminated", "ringing")
    assert final(caller).status == 487


# --- a whole call: in-dialog requests find their way back down the WebSockets -------------


def test_a_call_carries_dtmf_and_hangs_up_through_the_recorded_route(
    phone: Callable[..., Phone],
) -> None:
    callee = phone("202-wickedsprockets", register=True)
    caller = phone("201-wickedsprockets")

    invite = caller.invite("202")
    callee_side = callee.answer(incoming(callee))
    assert caller.expect_response().status == 180
    ok = final(caller)
    assert ok.status == 200
    caller_side = caller_dialog(invite, ok)
    assert caller_side.route, "Kamailio must record-route the call"
    # The callee's made-up Contact comes back aliased to its real connection.
    assert ";alias=" in caller_side.remote_target

    caller.in_dialog(caller_side, "ACK")
    ack = callee.receive()
    assert ack is not None and ack.method == "ACK"

    # DTMF as SIP INFO, as JsSIP sends it.
    caller.in_dialog(caller_side, "INFO", "Signal=5\r\nDuration=100\r\n", "application/dtmf-relay")
    info = callee.receive()
    assert info is not None and info.method == "INFO", str(info)
    assert "Signal=5" in info.body
    callee.reply(info, 200, "OK")
    assert caller.expect_response().status == 200

    # The callee hangs up: the BYE goes the other way.
    callee.in_dialog(callee_side, "BYE")
    bye = caller.receive()
    assert bye is not None and bye.method == "BYE", str(bye)
    caller.reply(bye, 200, "OK")
    assert callee.expect_response().status == 200


def test_an_in_dialog_request_cannot_be_aimed_at_another_address(
    phone: Callable[..., Phone], server: SipServer
) -> None:
    attacker = phone("201-wickedsprockets", register=True)
    forged = Message(
        "BYE sip:x@10.0.0.1;alias=10.0.0.1~5060~1 SIP/2.0",
        [
            ("Via", f"SIP/2.0/WS {attacker.host};branch=z9hG4bKforged"),
            ("Max-Forwards", "70"),
            ("Route", f"<sip:127.0.0.1:{server.ws_port};transport=ws;lr>"),
            ("To", "<sip:x@10.0.0.1>;tag=a"),
            ("From", f"<{attacker.aor}>;tag=b"),
            ("Call-ID", "forged"),
            ("CSeq", "1 BYE"),
        ],
    )
    attacker.send(forged)
    assert attacker.expect_response().status == 403


def test_options_keepalives_are_answered(phone: Callable[..., Phone], server: SipServer) -> None:
    client = phone("201-wickedsprockets")
    client.send(client.request("OPTIONS", f"sip:{server.domain}", f"sip:{server.domain}"))
    assert client.expect_response().status == 200


# --- the WebSocket's origin -----------------------------------------------------------------


def test_only_the_portals_pages_may_open_the_socket_when_an_origin_is_set(
    netns: Netns, sip: Callable[..., SipServer]
) -> None:
    guarded = sip(ws_origin="http://127.0.0.1:8000")
    creds = credentials(guarded, "201-wickedsprockets")
    with pytest.raises(InvalidStatus, match="403"):
        Phone.open(
            netns.connect(guarded.ws_port),
            guarded.ws_url,
            guarded.domain,
            "201-wickedsprockets",
            creds,
            origin="http://evil.example",
        )
    good = Phone.open(
        netns.connect(guarded.ws_port),
        guarded.ws_url,
        guarded.domain,
        "201-wickedsprockets",
        creds,
        origin="http://127.0.0.1:8000",
    )
    assert good.register().status == 200
    good.close()


# --- coturn ---------------------------------------------------------------------------------


def relay(netns: Netns, server: SipServer, creds: Credentials) -> str:
    """turnutils_uclient through the relay to a peer on loopback; its summary line."""
    assert server.turn_port is not None
    done = netns.run(
        "turnutils_uclient",
        *("-u", creds.username, "-w", creds.password, "-p", str(server.turn_port)),
        *("-y", "-n", "2", "-m", "1", "-e", "127.0.0.1", "127.0.0.1"),
    )
    return done.stdout + done.stderr


def test_coturn_relays_with_the_ephemeral_credential(netns: Netns, server: SipServer) -> None:
    output = relay(netns, server, credentials(server, "201-wickedsprockets"))
    assert "tot_recv_msgs=8" in output, output[-2000:]


def test_coturn_refuses_a_forged_credential(netns: Netns, server: SipServer) -> None:
    forged = credentials(server, "201-wickedsprockets", secret="not-the-shared-secret-at-all")
    output = relay(netns, server, forged)
    assert "Cannot complete Allocation" in output, output[-2000:]


def test_the_launcher_keeps_the_secret_off_command_lines(server: SipServer) -> None:
    for path in (server.runtime_dir / "kamailio-local.cfg", server.runtime_dir / "turnserver.conf"):
        assert path.stat().st_mode & 0o777 == 0o600
    for pid in Path("/proc").glob("[0-9]*"):
        try:
            command = (pid / "cmdline").read_bytes()
        except OSError:
            continue
        assert server._secret.encode() not in command
    for log in (server.kamailio_log, server.turn_log):
        assert server._secret not in log.read_text(errors="replace")


# --- the launcher ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"secret": "short"}, "16 to 256 characters"),
        ({"secret": 'with "quotes" and more than sixteen'}, "16 to 256 characters"),
        ({"secret": "x" * 20 + "\n#!define SIP_DOMAIN evil"}, "16 to 256 characters"),
        ({"domain": "sip example.com"}, "not a SIP domain"),
        ({"ws_origin": "javascript:alert(1)"}, "not an origin"),
        ({"answer_ms": 5000, "ring_ms": 4000}, "at most ring_ms"),
    ],
)
def test_the_launcher_refuses_settings_that_would_break_the_configuration(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    options: dict[str, Any] = {"domain": "sip.example.com", "secret": "s" * 32, **changes}
    with pytest.raises(ValueError, match=message):
        SipServer(runtime_dir=tmp_path, **options)


def test_a_server_that_will_not_start_names_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if reason := available():
        unavailable(reason)
    broken = tmp_path / "deploy"
    (broken / "kamailio").mkdir(parents=True)
    (broken / "kamailio" / "kamailio.cfg").write_text("#!KAMAILIO\nthis is not a setting\n")
    monkeypatch.setenv("PORTAL_SIP_CONFIG_DIR", str(broken))
    server = SipServer(domain="sip.example.com", secret="s" * 32, runtime_dir=tmp_path / "run")
    with pytest.raises(SipServerError, match="Kamailio exited") as failure:
        server.start()
    assert str(server.kamailio_log) in str(failure.value)
    assert "syntax error" in str(failure.value)


def test_without_its_configuration_the_server_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_SIP_CONFIG_DIR", str(tmp_path))
    reason = available()
    assert reason is not None
    assert "kamailio.cfg" in reason
