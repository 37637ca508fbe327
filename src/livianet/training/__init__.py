"""livianet.training."""
