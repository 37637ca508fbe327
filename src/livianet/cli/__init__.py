"""livianet.cli."""
