"""livianet.evaluation."""
