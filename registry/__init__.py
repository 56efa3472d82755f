"""AIFI governance, consent and procurement registry.

Nothing is built at import time: call :func:`registry.app.create_app`.
"""

__all__ = ["create_app"]


def create_app(settings=None):
    # Imported lazily so that `import registry` (and registry.client) stays cheap
    # and free of Flask/SQLAlchemy side effects.
    from registry.app import create_app as _create_app

    return _create_app(settings)
