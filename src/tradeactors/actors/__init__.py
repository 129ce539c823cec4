"""Trading actors: thin shells that receive messages, call a pure core, send results."""
