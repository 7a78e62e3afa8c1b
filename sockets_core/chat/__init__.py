"""Sans-I/O chat: framing of native clients' byte streams into messages."""
