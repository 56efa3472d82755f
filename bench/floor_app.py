"""The floor for the HTTP benchmark: a minimal Flask JSON endpoint, served exactly like the
registry (same gunicorn worker class, workers and threads). It parses a JSON body and answers."""

from flask import Flask, jsonify, request


def create_floor_app() -> Flask:
    app = Flask("floor")

    @app.post("/api/v1/decisions")
    def decide():
        body = request.get_json(force=True)
        return jsonify({"decision": "permit", "tool": body.get("tool"), "reasons": []})

    return app
