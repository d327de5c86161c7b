"""Local mode: the same handlers and state machine on an embedded AWS emulator (moto)."""
