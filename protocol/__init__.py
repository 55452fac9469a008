"""The sans-I/O core: events, their encoding and validation, membership, projections
and sync, as pure functions. Nothing here opens a file or a socket or reads a clock."""
