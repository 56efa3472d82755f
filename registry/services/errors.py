"""Errors services raise; the edges turn them into 400/404/409 answers."""

from __future__ import annotations


class ServiceError(Exception):
    code = "INVALID_REQUEST"
    status = 400

    def __init__(self, detail: str, fields: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or {}


class NotFound(ServiceError):
    code = "NOT_FOUND"
    status = 404


class Conflict(ServiceError):
    code = "CONFLICT"
    status = 409


class ValidationFailed(ServiceError):
    code = "INVALID_REQUEST"
    status = 400
