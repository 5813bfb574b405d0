"""Admin: rules (filled in by the trust-and-safety work)."""
