"""livianet.data."""
