"""Sans-I/O TFTP (RFC 1350, 2347-2349): packet codec and transfer state machines."""
