"""Admin: audit (filled in by the trust-and-safety work)."""
