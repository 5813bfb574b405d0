"""The REST API of the social core (DRF): the contract in DESIGN.md."""
