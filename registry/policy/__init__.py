"""Routing policies: load and validate policies/*.cedar, build facts, evaluate, explain."""
