"""A real registry on a loopback port (werkzeug in a thread), on the test's database transaction."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from werkzeug.serving import make_server


@dataclass
class Live:
    url: str
    app: object
    server: object
    thread: threading.Thread
    # Paths answered 503 while set (the registry "down" without closing the socket).
    unavailable: set[str] = field(default_factory=set)
    fail_next: int = 0  # answer the next N API calls with 503, then recover

    def stop(self) -> None:
        """Close the listening socket: connections are then refused."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def live(engine, sessions, clock, settings):
    from registry.app import create_app

    state: dict = {}

    def dispatch(environ, start_response):  # noqa: ANN001, ANN202
        lv: Live = state["live"]
        path = environ.get("PATH_INFO", "")
        down = any(path.startswith(p) for p in lv.unavailable)
        if not down and lv.fail_next and path.startswith("/api/"):
            lv.fail_next -= 1
            down = True
        if down:
            # Read the body first: an unread body would stall the next request on this connection.
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "REGISTRY_UNAVAILABLE", "detail": "test"}}']
        return lv.app(environ, start_response)

    server = make_server("127.0.0.1", 0, dispatch, threaded=False)
    url = f"http://127.0.0.1:{server.server_port}"
    # The issuer is the server's own URL: the token endpoint's audience and the bundle's iss.
    app = create_app(settings.model_copy(update={"issuer": url}), clock=clock, engine=engine,
                     sessions=sessions)
    app.config.update(TESTING=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    state["live"] = lv = Live(url, app, server, thread)
    thread.start()
    yield lv
    try:
        server.shutdown()
        server.server_close()
    except OSError:
        pass
