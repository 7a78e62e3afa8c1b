from sockets_core.chat.framing import Line, LineFramer


def test_newline_and_crlf_end_messages_across_chunks() -> None:
    f = LineFramer()
    assert f.receive_data(b"hel", 0.0) == []
    assert f.receive_data(b"lo\r\nwor", 0.1) == [Line(b"hello")]
    assert f.receive_data(b"ld\n", 0.2) == [Line(b"world")]
    assert f.get_timer() is None


def test_a_pause_without_newline_ends_the_message() -> None:
    f = LineFramer(idle_flush=0.3)
    f.receive_data("你好".encode("gbk"), 10.0)
    assert f.get_timer() == 10.3
    assert f.handle_timer(10.2) == []
    assert f.handle_timer(10.3) == [Line("你好".encode("gbk"))]
    assert f.get_timer() is None


def test_over_long_line_is_cut_and_the_rest_discarded() -> None:
    f = LineFramer(max_line=8)
    lines = f.receive_data(b"0123456789abcdef\nnext\n", 0.0)
    assert lines == [Line(b"01234567", truncated=True), Line(b"next")]


def test_over_long_line_without_newline_then_pause() -> None:
    f = LineFramer(max_line=4, idle_flush=0.3)
    assert f.receive_data(b"abcdefgh", 0.0) == [Line(b"abcd", truncated=True)]
    assert f.handle_timer(1.0) == []
    assert f.receive_data(b"ok\n", 1.1) == [Line(b"ok")]


def test_close_flushes_the_last_partial_message() -> None:
    f = LineFramer()
    f.receive_data(b"bye", 0.0)
    assert f.close() == [Line(b"bye")]
