"""Venue wire formats and their book-sync rules (pure: no sockets, no threads)."""
