"""livianet.io."""
