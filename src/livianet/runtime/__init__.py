"""livianet.runtime."""
