"""What the Tools page is built from: payload parsing and auto-responses (sans-I/O)."""
