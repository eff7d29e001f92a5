"""The staff back office: accounts with TOTP, roles, and server-rendered screens under /admin."""
