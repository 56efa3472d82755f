"""The gateway's client library. Depends on requests and joserfc only: it never imports the
registry's server (Flask, SQLAlchemy, services), so a gateway can install it on its own."""

from registry.client.client import (BundleInvalid, Decision, FlushResult, RegistryClient,
                                    RegistryError, RegistryUnavailable)
from registry.client.pseudonyms import pseudonym

__all__ = ["BundleInvalid", "Decision", "FlushResult", "RegistryClient", "RegistryError",
           "RegistryUnavailable", "pseudonym"]
