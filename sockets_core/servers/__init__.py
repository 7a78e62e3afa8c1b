"""Thin gevent adapters: move bytes between sockets and the sans-I/O cores, and tap them."""
