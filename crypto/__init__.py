"""Small wrappers over well-kept libraries: bytes in, bytes out, no files, no sockets."""

#: The package's public names: its modules (importing one costs only that module;
#: nothing is imported here). tests/test_layers.py keeps the list complete and sorted.
__all__ = [
    "atrest",
    "errors",
    "identity",
    "keyfile",
    "seal",
    "sealedfile",
    "sign",
    "tls",
]
