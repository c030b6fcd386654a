"""The byte budgets of `make bench`, measured the same way on a real server."""

from __future__ import annotations

import os
from pathlib import Path

from bench.transfer import FIRST_LOAD_BUDGET, PHONE_LOAD_BUDGET, TAB_SWITCH_BUDGET, measure

from tests.servers import portal_command, portal_server


def test_first_load_and_tab_switch_fit_their_byte_budgets(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/bench.db",
        "PORTAL_SECRET_KEY": "bench",
        # /phone then loads the softphone (only its bytes are counted: nothing listens there)
        "PORTAL_SIP_WS_URL": "ws://127.0.0.1:9",
        "PORTAL_SIP_DOMAIN": "bench.invalid",
        "PORTAL_SIP_SECRET": "bench-sip-secret-0123",
    }
    portal_command(env, "db", "upgrade")
    portal_command(env, "tenant", "add", "acme", "--name", "Acme")
    portal_command(
        env,
        "extension",
        "add",
        "1-acme",
        "--name",
        "A",
        "--password-stdin",
        stdin="pass phrase 9\n",
    )
    with portal_server(env, tmp_path / "server.log") as server:
        transfer = measure(server.base, "1-acme", "pass phrase 9")
    assert len(transfer.first_load_parts) == 5  # the page, its stylesheet and three scripts
    assert transfer.first_load <= FIRST_LOAD_BUDGET
    assert transfer.tab_switch <= TAB_SWITCH_BUDGET
    # The Phone tab: the page, its stylesheet, three scripts, JsSIP and the softphone's script.
    assert len(transfer.phone_load_parts) == 7
    assert any("jssip" in url for url in transfer.phone_load_parts)
    assert transfer.phone_load <= PHONE_LOAD_BUDGET
