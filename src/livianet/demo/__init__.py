"""livianet.demo."""
