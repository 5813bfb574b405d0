"""The remix feature's REST API (the contract in DESIGN.md)."""
