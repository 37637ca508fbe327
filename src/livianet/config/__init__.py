"""livianet.config."""
