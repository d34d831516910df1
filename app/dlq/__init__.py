"""The dead letter queue: accepted audit writes wait here while the database cannot take them."""
