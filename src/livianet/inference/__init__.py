"""livianet.inference."""
