"""The syslog receiver's sans-I/O parts: the parser (parse.py) and the ring (store.py)."""
