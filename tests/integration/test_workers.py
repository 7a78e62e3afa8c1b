"""`--workers 2`: two processes serve the same ports (SO_REUSEPORT), under one supervisor that
restarts a dead worker, stops everything on SIGTERM and starts a private redis-server as the bus.

Which worker served is read from the workers themselves: every HTTP answer says
``X-Sockdash-Worker: N`` and /api/status holds that worker's own counters; a fresh connection
per request lets the kernel pick the worker."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.harness import Sockdash, chat_client, command, recv_until, start, wait_for

HOST = "127.0.0.1"
DOWNLOADS = 20
SIZE = 256 * 1024


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def worker_pids(sd: Sockdash) -> list[int]:
    return [p for p in children(sd.proc.pid) if "-m webapp" in cmdline(p)]


def redis_pids(sd: Sockdash) -> list[int]:
    return [p for p in children(sd.proc.pid) if "redis-server" in cmdline(p)]


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def tftp_answers_as_a_client(port: int, tries: int = 3) -> bool:
    """An RRQ from one socket, sent again after 1 s of silence as a TFTP client does (the same
    source port hashes to the same worker each time): whether an ERROR came back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(1)
        for _ in range(tries):
            client.sendto(b"\x00\x01no-such-file\x00octet\x00", (HOST, port))
            try:
                return client.recv(600)[:2] == b"\x00\x05"
            except TimeoutError:
                continue
    return False


def status_from_some_worker(sd: Sockdash) -> tuple[int, dict[str, Any]]:
    """One /api/status on a new connection: (the worker that answered, its status)."""
    with urllib.request.urlopen(sd.base_url + "/api/status", timeout=5) as response:
        return int(response.headers["X-Sockdash-Worker"]), json.load(response)


def status_of_each_worker(sd: Sockdash, count: int = 2) -> dict[int, dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}

    def all_answered() -> bool:
        number, status = status_from_some_worker(sd)
        seen[number] = status
        return len(seen) == count

    sd.wait_for(all_answered, timeout=10, what=f"answers from all {count} workers")
    return seen


def start_workers(tmp_path: Path, *args: str) -> Sockdash:
    return start(tmp_path, "--workers", "2", *args)


def test_both_workers_serve_and_share_tftp_downloads(tmp_path: Path) -> None:
    sd = start_workers(tmp_path, "--tftp-max-per-peer", str(DOWNLOADS))  # all from 127.0.0.1
    try:
        assert any(line.startswith("  2 workers") for line in sd.output), sd.output
        assert len(worker_pids(sd)) == 2 and len(redis_pids(sd)) == 1
        payload = os.urandom(SIZE)
        (sd.root / "image.bin").write_bytes(payload)
        url = f"tftp://{HOST}:{sd.ports['tftp']}/image.bin"

        def fetch(i: int) -> bytes:
            out = tmp_path / f"got{i}"
            subprocess.run(["curl", "-sS", "--tftp-blksize", "1468", "-o", str(out), url], check=True, timeout=30)
            return out.read_bytes()

        with ThreadPoolExecutor(DOWNLOADS) as pool:
            assert all(got == payload for got in pool.map(fetch, range(DOWNLOADS)))
        per_worker = {n: s["services"]["tftp"]["bytes_out"] for n, s in status_of_each_worker(sd).items()}
        # the kernel hashed the 20 clients' requests over both workers; each sent its share
        assert all(sent >= SIZE for sent in per_worker.values()), per_worker
        assert sum(per_worker.values()) >= DOWNLOADS * SIZE, per_worker
    finally:
        assert sd.stop() == 0


def test_a_killed_worker_is_started_again_and_the_ports_keep_answering(tmp_path: Path) -> None:
    sd = start_workers(tmp_path)
    try:
        first, second = worker_pids(sd)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: not alive(first) or "Z" in Path(f"/proc/{first}/stat").read_text().split()[2],
                 what="the killed worker gone")
        # meanwhile the other worker holds the ports alone: every client is answered
        assert all(tftp_answers_as_a_client(sd.ports["tftp"]) for _ in range(10))
        assert all(status_from_some_worker(sd)[1]["version"] for _ in range(10))
        restarted = wait_for(lambda: [p for p in worker_pids(sd) if p not in (first, second)], timeout=15,
                             what="a new worker")
        assert second in worker_pids(sd)
        assert set(status_of_each_worker(sd)) == {1, 2}  # the new one serves too
        assert any(f"(pid {first}) was killed by SIGKILL; starting it again" in line for line in sd.output)
        assert restarted
    finally:
        assert sd.stop() == 0


def test_sigterm_stops_every_process_and_removes_the_redis_socket(tmp_path: Path) -> None:
    sd = start_workers(tmp_path)
    pids = worker_pids(sd) + redis_pids(sd)
    assert len(pids) == 3
    assert (sd.data / "redis.sock").exists()
    assert sd.stop(signal.SIGTERM) == 0
    assert [p for p in pids if alive(p)] == []
    assert not (sd.data / "redis.sock").exists()
    assert sd.output[-1] == "sockdash stopped"
    assert sum(line == "sockdash stopped" for line in sd.output) == 1  # said once, by the supervisor


def test_workers_without_redis_server_name_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run([*command(), "--workers", "2", "--host", HOST, "--root", str(tmp_path / "root"),
                           "--data", str(tmp_path / "data"), "--http-port", "0", "--tftp-port", "0"],
                          capture_output=True, text=True, timeout=30,
                          env={**{k: v for k, v in os.environ.items() if k != "SOCKDASH_BUS"}, "PATH": str(empty)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "sockdash: error: --workers 2 needs a bus: install redis-server (apt-get install redis-server) "
        "or give --bus redis://HOST:PORT"]


def test_a_stale_redis_socket_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "data" / "redis.sock"))  # a socket file nothing listens on any more
    stale.close()
    sd = start_workers(tmp_path)
    try:
        assert len(status_of_each_worker(sd)) == 2
    finally:
        assert sd.stop() == 0


def test_a_port_in_use_is_said_once_by_the_supervisor(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind((HOST, 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run([*command(), "--workers", "2", "--host", HOST, "--root", str(tmp_path / "root"),
                               "--data", str(tmp_path / "data"), "--http-port", str(port)],
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"sockdash: error: http: port {port} on {HOST} is already in use"]


def test_sighup_reaches_every_worker_and_kills_none(tmp_path: Path) -> None:
    rules = tmp_path / "map"
    rules.write_text("r ^old new\n")
    sd = start_workers(tmp_path, "--tftp-map", str(rules))
    try:
        pids = worker_pids(sd)
        sd.proc.send_signal(signal.SIGHUP)
        def reloaded(n: int) -> bool:
            return any(f"worker {n} " in line and f"tftp map {rules} reloaded" in line for line in sd.output)

        for number in (1, 2):
            sd.wait_for(functools.partial(reloaded, number), what=f"worker {number} reloads the map")
        assert worker_pids(sd) == pids
    finally:
        assert sd.stop() == 0


def test_sighup_without_a_map_is_no_reason_to_die(tmp_path: Path) -> None:
    sd = start_workers(tmp_path)
    try:
        pids = worker_pids(sd)
        sd.proc.send_signal(signal.SIGHUP)
        sd.wait_for(lambda: any("SIGHUP: nothing to reload" in line for line in sd.output), what="the note")
        assert worker_pids(sd) == pids and sd.proc.poll() is None
    finally:
        assert sd.stop() == 0


def test_a_given_bus_is_used_and_no_private_redis_is_started(tmp_path: Path) -> None:
    from sockets_core.redis_local import LocalRedis

    (tmp_path / "theirs").mkdir()
    theirs = LocalRedis(tmp_path / "theirs", 2)  # a Redis of the user's, here on a unix socket
    url = theirs.start()
    try:
        sd = start(tmp_path, "--workers", "2", env={"SOCKDASH_BUS": url})
        try:
            assert redis_pids(sd) == [] and not (sd.data / "redis.sock").exists()
            assert any(line.startswith("  2 workers") and line.endswith(f"bus {url}") for line in sd.output)
            assert len(status_of_each_worker(sd)) == 2
        finally:
            assert sd.stop() == 0
    finally:
        theirs.stop()


def test_workers_auto_is_one_per_core_and_the_environment_sets_it() -> None:
    from sockets_core.settings import parse_settings

    assert parse_settings(["--workers", "auto"], {}).workers == len(os.sched_getaffinity(0))
    assert parse_settings([], {"SOCKDASH_WORKERS": "3"}).workers == 3
    assert parse_settings([], {}).workers == 1


def test_a_killed_supervisor_leaves_no_worker_and_no_redis_behind(tmp_path: Path) -> None:
    sd = start_workers(tmp_path)
    pids = worker_pids(sd) + redis_pids(sd)
    sd.proc.kill()  # no chance to stop anything: the kernel's parent-death signal does it
    sd.proc.wait(5)
    wait_for(lambda: not [p for p in pids if alive(p)], timeout=10, what="workers and redis gone")
    sd.stop()


def test_json_log_lines_carry_the_worker_number(tmp_path: Path) -> None:
    sd = start_workers(tmp_path, "--log-format", "json")
    assert sd.stop() == 0
    records = [json.loads(line) for line in sd.output if line.startswith("{")]
    stopping = {r.get("worker") for r in records if r["message"] == "stopping"}
    assert {1, 2} <= stopping, records


def post_as_admin(sd: Sockdash, path: str) -> int:
    """POST on a new connection; the worker that answered."""
    request = urllib.request.Request(sd.base_url + path, method="POST",
                                     headers={"Authorization": f"Bearer {sd.token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.headers["X-Sockdash-Worker"])


def test_a_service_the_admin_restarts_in_one_worker_rejoins_the_shared_port(tmp_path: Path) -> None:
    sd = start_workers(tmp_path)
    try:
        stopped = post_as_admin(sd, "/api/services/tcp_chat/stop")
        for _ in range(10):  # the other worker still holds the port: every connection is served
            with socket.create_connection((HOST, sd.ports["tcp_chat"]), timeout=5) as conn:
                assert conn.recv(100)
        # asked until the worker that stopped it answers (a start of a running service changes nothing)
        sd.wait_for(lambda: post_as_admin(sd, "/api/services/tcp_chat/start") == stopped, timeout=10,
                    what=f"worker {stopped} starting tcp_chat again")
        chat = status_of_each_worker(sd)[stopped]["services"]["tcp_chat"]
        assert chat["running"] and chat["port"] == sd.ports["tcp_chat"]
    finally:
        assert sd.stop() == 0


def test_each_worker_is_an_instance_of_its_own_on_the_bus(tmp_path: Path) -> None:
    sd = start_workers(tmp_path, "--instance-name", "lab")
    try:
        statuses = status_of_each_worker(sd)
        assert {n: s["bus"]["instance"] for n, s in statuses.items()} == {1: "lab-w1", 2: "lab-w2"}
        assert all(s["bus"]["state"] == "connected" for s in statuses.values()), statuses
    finally:
        assert sd.stop() == 0


def chat_is_one_room(sd: Sockdash, prefix: str = "user") -> None:
    """Chat clients on both workers: a line from one reaches all the others."""
    clients: list[socket.socket] = []
    try:
        def on_both_workers() -> bool:  # the kernel picks the worker: connect until both have some
            clients.append(chat_client(sd, f"{prefix}{len(clients)}"))
            counts = [s["services"]["tcp_chat"]["clients"] for s in status_of_each_worker(sd).values()]
            return len(clients) >= 4 and min(counts) >= 1

        sd.wait_for(on_both_workers, timeout=30, what="chat clients on both workers")
        clients[0].sendall(b"hello from the first\n")
        for other in clients[1:]:
            expected = f"<{prefix}0> hello from the first\n".encode()
            assert expected in recv_until(other, b"hello from the first\n")
    finally:
        for client in clients:
            client.close()


def test_chat_clients_of_both_workers_are_one_room(tmp_path: Path) -> None:
    sd = start_workers(tmp_path)
    try:
        chat_is_one_room(sd)
    finally:
        assert sd.stop() == 0


def test_a_killed_private_redis_is_started_again_and_chat_is_one_room_again(tmp_path: Path) -> None:
    sd = start_workers(tmp_path)
    try:
        [old] = redis_pids(sd)
        os.kill(old, signal.SIGKILL)
        new = wait_for(lambda: [p for p in redis_pids(sd) if p != old], timeout=15, what="a new redis-server")
        assert len(new) == 1
        assert any("the private redis-server was killed by SIGKILL; starting it again" in line for line in sd.output)

        def both_connected() -> bool:
            return all(s["bus"]["state"] == "connected" for s in status_of_each_worker(sd).values())

        sd.wait_for(both_connected, timeout=20, what="both workers on the bus again")
        chat_is_one_room(sd, "after")
    finally:
        assert sd.stop() == 0


def test_the_bus_url_and_the_admin_token_are_not_on_the_workers_command_lines(tmp_path: Path) -> None:
    from sockets_core.redis_local import LocalRedis

    (tmp_path / "theirs").mkdir()
    theirs = LocalRedis(tmp_path / "theirs", 2)
    url = theirs.start()
    try:
        sd = start(tmp_path, "--workers", "2", f"--bus={url}")  # and the harness's --admin-token
        try:
            workers = worker_pids(sd)
            assert len(workers) == 2
            for pid in workers:
                line = cmdline(pid)
                assert sd.token not in line and url not in line and "--bus" not in line, line
                assert "--admin" not in line and "--workers 2" in line  # the rest is still handed down
            # they have them all the same: the given bus (no private redis) and the given token
            assert redis_pids(sd) == []
            assert all(s["bus"]["state"] == "connected" for s in status_of_each_worker(sd).values())
            assert {post_as_admin(sd, "/api/services/tcp_chat/start") for _ in range(20)} == {1, 2}
        finally:
            assert sd.stop() == 0
    finally:
        theirs.stop()


def test_without_secrets_takes_out_every_spelling_of_the_secret_flags() -> None:
    from webapp.workers import without_secrets

    argv = ["--workers", "2", "--bus", "redis://:pw@h:1", "--admin-token=tok", "--admin", "tok2",
            "--bus=redis://:pw@h:2", "--http-port", "0"]
    assert without_secrets(argv) == ["--workers", "2", "--http-port", "0"]


def open_files(pid: int) -> set[str]:
    folder = Path(f"/proc/{pid}/fd")
    found = set()
    for fd in folder.iterdir():
        try:
            found.add(os.readlink(fd))
        except FileNotFoundError:  # closed meanwhile
            continue
    return found


def test_worker_1_alone_binds_syslog_and_writes_the_syslog_and_packet_log_files(tmp_path: Path) -> None:
    syslog_file, packet_file = tmp_path / "syslog.log", tmp_path / "packets.jsonl"
    sd = start_workers(tmp_path, "--syslog-file", str(syslog_file), "--packet-log-file", str(packet_file))
    clients: list[socket.socket] = []
    try:
        statuses = status_of_each_worker(sd)
        assert statuses[1]["services"]["syslog"]["running"] and not statuses[2]["services"]["syslog"]["running"]
        workers = worker_pids(sd)
        writers = [p for p in workers if {str(syslog_file), str(packet_file)} <= open_files(p)]
        assert len(writers) == 1, [open_files(p) for p in workers]
        [reader] = [p for p in workers if p not in writers]
        assert not {str(syslog_file), str(packet_file)} & open_files(reader)

        for i in range(20):  # 20 source ports: the kernel would hash them over both workers
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto(f"<13>message {i}".encode(), (HOST, sd.ports["syslog"]))
        sd.wait_for(lambda: status_of_each_worker(sd)[1]["services"]["syslog"]["messages"]["received"] == 20,
                    timeout=10, what="all 20 syslog messages in worker 1")
        sd.wait_for(lambda: syslog_file.read_text().count("message ") == 20, timeout=10,
                    what="all 20 in the syslog file")

        def on_both_workers() -> bool:  # the packet log file has the events of either worker
            clients.append(chat_client(sd, f"user{len(clients)}"))
            counts = [s["services"]["tcp_chat"]["clients"] for s in status_of_each_worker(sd).values()]
            return len(clients) >= 4 and min(counts) >= 1

        sd.wait_for(on_both_workers, timeout=30, what="chat clients on both workers")
        peers = {f"127.0.0.1:{c.getsockname()[1]}" for c in clients}

        def peers_logged() -> set[str]:
            return {json.loads(line).get("peer") for line in packet_file.read_text().splitlines()} & peers

        sd.wait_for(lambda: peers_logged() == peers, timeout=10, what="every chat client in the packet log file")
    finally:
        for client in clients:
            client.close()
        assert sd.stop() == 0


def test_only_worker_1_stores_chat_history_the_others_read_it(tmp_path: Path) -> None:
    from sockets_core.chat.events import ChatEvent
    from sockets_core.chat.history import ChatHistory
    from webapp.workers import ReadingHistory, open_history

    path = tmp_path / "chat.sqlite3"
    writer, reader = open_history(path, 1), open_history(path, 2)
    try:
        assert type(writer) is ChatHistory and isinstance(reader, ReadingHistory)
        assert type(open_history(path, None)) is ChatHistory  # no --workers: the one process stores
        event = ChatEvent("message", "lobby", "ann", "tcp", "hello", 1.0, id=7)
        reader.add(event)  # every worker gets it from the bus: the reader leaves it to worker 1
        reader.flush()
        assert writer.recent("lobby") == []
        writer.add(event)
        writer.flush()
        assert [e.text for e in reader.recent("lobby")] == ["hello"]  # and reads what worker 1 stored
        assert reader.clear("lobby") == 1 and [e.text for e in writer.recent("lobby")] == ["hello"]
    finally:
        writer.close()
        reader.close()


def test_a_restarted_worker_that_hangs_is_killed_and_tried_again(tmp_path: Path) -> None:
    sd = start_workers(tmp_path, "--worker-start-timeout", "3")
    try:
        first, second = worker_pids(sd)
        os.kill(first, signal.SIGKILL)

        def exec_done(pid: int) -> bool:  # not the fork still in Popen: the supervisor waits for its exec
            try:
                return b"SOCKDASH_WORKER=" in Path(f"/proc/{pid}/environ").read_bytes()
            except (FileNotFoundError, ProcessLookupError):
                return False

        [hung] = wait_for(lambda: [p for p in worker_pids(sd) if p not in (first, second) and exec_done(p)],
                          timeout=15, interval=0.005, what="the restarted worker")
        os.kill(hung, signal.SIGSTOP)  # long before it can print its banner (Python, Flask, gevent)
        sd.wait_for(lambda: any(f"(pid {hung}) did not serve within 3 s (--worker-start-timeout): killed" in line
                                for line in sd.output), timeout=15, what="the hung worker killed")
        assert any(f"(pid {hung}) was killed by SIGKILL; starting it again in 1.0 s" in line for line in sd.output)
        assert set(status_of_each_worker(sd)) == {1, 2}  # the next try serves
    finally:
        assert sd.stop() == 0


def test_what_a_worker_prints_before_its_banner_is_kept_bounded(tmp_path: Path) -> None:
    from sockets_core.settings import parse_settings
    from webapp.workers import BANNER_MAX, Supervisor, Worker

    supervisor = Supervisor([], parse_settings(["--workers", "2"], {}), {}, {}, "bus")
    worker = Worker(1)
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, "rb") as stream:
            for _ in range(10):  # a worker stuck printing, never ready
                os.write(write_end, b"".join(b"line %d\n" % i for i in range(100)))
                supervisor._read(worker, stream)
            assert len(worker.banner) == BANNER_MAX and not worker.ready
    finally:
        os.close(write_end)
        supervisor.selector.close()
        supervisor._wake_r.close()
        supervisor._wake_w.close()


def test_metrics_from_any_worker_hold_every_workers_samples_labelled(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    sd = start_workers(tmp_path)
    try:
        assert set(status_of_each_worker(sd)) == {1, 2}  # both serve, so both wrote their file once

        def scrape() -> tuple[int, str]:
            with urllib.request.urlopen(sd.base_url + "/metrics", timeout=5) as response:
                return int(response.headers["X-Sockdash-Worker"]), response.read().decode()

        answered = set()
        for _ in range(40):
            number, text = scrape()
            answered.add(number)
            types = [line for line in text.splitlines() if line.startswith("# TYPE ")]
            assert len(types) == len(set(types)), "a family twice"
            families = {f.name: f for f in text_string_to_metric_families(text)}
            workers = {s.labels.get("worker") for s in families["process_cpu_seconds"].samples}
            assert workers == {"1", "2"}, (number, workers)
            assert all("worker" in s.labels for f in families.values() for s in f.samples)
        assert answered == {1, 2}
    finally:
        assert sd.stop() == 0


def test_api_syslog_lists_every_message_whichever_worker_answers(tmp_path: Path) -> None:
    sd = start_workers(tmp_path, "--instance-name", "lab")
    try:
        assert set(status_of_each_worker(sd)) == {1, 2}  # both serve: worker 2 is on the bus
        for i in range(20):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto(f"<13>message {i}".encode(), (HOST, sd.ports["syslog"]))
        expected = [f"message {i}" for i in range(20)]

        def listed() -> tuple[int, list[dict[str, Any]]]:
            with urllib.request.urlopen(sd.base_url + "/api/syslog", timeout=5) as response:
                return int(response.headers["X-Sockdash-Worker"]), json.load(response)["messages"]

        def worker_2_has_them() -> bool:
            number, messages = listed()
            return number == 2 and [m["message"] for m in messages] == expected

        sd.wait_for(worker_2_has_them, timeout=10, what="all 20 syslog messages in worker 2")
        answered: list[int] = []
        while len(answered) < 10 or (set(answered) != {1, 2} and len(answered) < 40):  # the kernel picks
            number, messages = listed()
            answered.append(number)
            assert [m["message"] for m in messages] == expected, number
            # worker 1 received them (no instance: its own); worker 2 took them from it
            assert {m.get("instance") for m in messages} == ({None} if number == 1 else {"lab-w1"})
        assert set(answered) == {1, 2}
    finally:
        assert sd.stop() == 0
