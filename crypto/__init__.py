"""Small wrappers over well-kept libraries: bytes in, bytes out, no files, no sockets."""
