"""livianet.reporting."""
