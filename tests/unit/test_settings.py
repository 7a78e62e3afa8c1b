from pathlib import Path

import pytest

from sockets_core.settings import Settings, SettingsError, build_parser, parse_settings


def test_defaults_match_the_course_ports() -> None:
    s = parse_settings([], {})
    assert (s.http_port, s.tcp_chat_port, s.udp_chat_port, s.file_port, s.tftp_port) == (8000, 8888, 8989, 8080, 69)
    assert s.host == "0.0.0.0" and s.root == Path("files") and s.data == Path(".sockdash")
    assert not s.tftp_write and s.disabled == frozenset()


def test_flags() -> None:
    s = parse_settings(["--http-port", "0", "--tftp-port", "6969", "--host", "::", "--tftp-write",
                        "--disable", "tftp", "--disable", "file", "--root", "/srv/x", "--log-level", "debug"], {})
    assert s.http_port == 0 and s.tftp_port == 6969 and s.host == "::" and s.tftp_write
    assert s.disabled == {"tftp", "file"} and s.root == Path("/srv/x") and s.log_level == "DEBUG"


def test_environment_and_precedence() -> None:
    env = {"SOCKDASH_HTTP_PORT": "9000", "SOCKDASH_TCP_CHAT_PORT": "7000", "SOCKDASH_TFTP_WRITE": "yes",
           "SOCKDASH_DISABLE": "udp_chat, tftp", "SOCKDASH_ADMIN_TOKEN": "0123456789"}
    s = parse_settings(["--tcp-chat-port", "7001"], env)
    assert s.http_port == 9000 and s.tcp_chat_port == 7001
    assert s.tftp_write and s.disabled == {"udp_chat", "tftp"} and s.admin_token == "0123456789"


@pytest.mark.parametrize("argv, env, needle", [
    (["--http-port", "abc"], {}, "--http-port"),
    (["--http-port", "70000"], {}, "0-65535"),
    (["--disable", "ftp"], {}, "unknown service 'ftp'"),
    (["--log-level", "loud"], {}, "invalid log level"),
    (["--bogus"], {}, "unrecognized arguments: --bogus"),
    ([], {"SOCKDASH_FILE_PORT": "-1"}, "SOCKDASH_FILE_PORT"),
    ([], {"SOCKDASH_TFTP_WRITE": "maybe"}, "SOCKDASH_TFTP_WRITE"),
    ([], {"SOCKDASH_DISABLE": "chat"}, "SOCKDASH_DISABLE"),
    (["--admin-token", "short"], {}, "at least 8"),
])
def test_bad_values_raise_one_clear_line(argv: list[str], env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse_settings(argv, env)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_help_documents_every_flag_and_its_variable() -> None:
    text = build_parser().format_help()
    for flag in ("--host", "--http-port", "--tcp-chat-port", "--udp-chat-port", "--file-port", "--tftp-port",
                 "--root", "--data", "--admin-token", "--tftp-write", "--disable", "--log-level"):
        assert flag in text
    assert "SOCKDASH_HTTP_PORT" in text


def test_port_of() -> None:
    s = Settings(file_port=1234)
    assert s.port_of("file") == 1234 and s.port_of("http") == 8000
