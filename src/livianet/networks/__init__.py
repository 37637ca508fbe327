"""livianet.networks."""
