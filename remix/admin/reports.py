"""Admin: reports (filled in by the trust-and-safety work)."""
