"""Authentication: OAuth2 for gateways (Authlib), sessions for people, hashed secrets and tokens."""
