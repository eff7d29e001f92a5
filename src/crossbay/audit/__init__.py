"""Who did what to which account: an append-only record of sensitive customer and staff actions."""
