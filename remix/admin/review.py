"""Admin: review (filled in by the trust-and-safety work)."""
