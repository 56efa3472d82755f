"""(a) A full gateway flow never writes the client secret or the access token to a log record
(at any level, any library) or to stdout/stderr."""

from __future__ import annotations

import logging

from tests.test_security_invariants import _gateway_flow


def test_the_gateway_flow_logs_neither_secret_nor_token(client, session, clock, world, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records reach caplog
    secret, token = _gateway_flow(client, session, clock, world)
    captured = capsys.readouterr()
    assert caplog.records, "nothing was logged: the check would be empty"
    secret_part, token_part = secret.removeprefix("aifi_cs_"), token.removeprefix("aifi_at_")
    leaks = []
    for record in caplog.records:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string still must not hide a leak
            text = f"{record.msg} {record.args}"
        text += " " + repr(record.__dict__)
        for name, value in (("secret", secret_part), ("token", token_part)):
            if value in text:
                leaks.append((name, record.name, record.levelname, record.msg))
    for stream, text in (("stdout", captured.out), ("stderr", captured.err)):
        for name, value in (("secret", secret_part), ("token", token_part)):
            if value in text:
                leaks.append((name, stream))
    assert leaks == []
