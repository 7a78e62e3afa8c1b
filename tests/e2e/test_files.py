import os
import re
import socket
import subprocess
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests import harness
from tests.e2e.traffic import slow_tftp_download


def login(page: Page, proc: harness.Sockdash) -> None:
    page.goto(f"{proc.base_url}/?token={proc.token}")


def test_admin_uploads_two_files_sees_them_listed_and_downloads_one(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    first, second = tmp_path / "firmware.bin", tmp_path / "switch config.txt"
    first.write_bytes(os.urandom(6 << 20))
    second.write_bytes(b"hostname sw1\ninterface ge-0/0/1\n")
    login(page, fresh_sockdash)
    page.goto(f"{fresh_sockdash.base_url}/files")
    expect(page.locator("#live-state")).to_have_text("live")
    page.set_input_files("#file-input", [str(first), str(second)])
    uploads = page.locator("#uploads li")
    expect(uploads).to_have_count(2)
    expect(page.get_by_role("progressbar", name="Upload progress of firmware.bin")).to_be_visible()
    expect(uploads.nth(0)).to_have_attribute("data-result", "ok", timeout=30_000)
    expect(uploads.nth(1)).to_have_attribute("data-result", "ok")
    expect(page.get_by_role("link", name="firmware.bin")).to_be_visible()
    expect(page.get_by_role("link", name="switch config.txt")).to_be_visible()
    assert (fresh_sockdash.root / "firmware.bin").read_bytes() == first.read_bytes()
    with page.expect_download() as info:
        page.get_by_role("link", name="firmware.bin").click()
    assert Path(info.value.path()).read_bytes() == first.read_bytes()
    # the uploads and the download are in the transfer list
    expect(page.locator("#transfer-rows tr", has_text="firmware.bin")).to_have_count(2)


def test_visitor_sees_no_admin_controls_and_the_api_refuses(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(f"{sockdash.base_url}/files")
    expect(page.get_by_role("link", name="hello.txt")).to_be_visible()
    expect(page.locator("#dropzone")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete hello.txt")).to_have_count(0)
    expect(page.get_by_role("button", name="New folder")).to_have_count(0)
    statuses = page.evaluate("""async () => {
        const form = new FormData(); form.append('file', new Blob(['x']), 'x.txt');
        const up = await fetch('/api/files', {method: 'POST', body: form});
        const del = await fetch('/api/files/hello.txt', {method: 'DELETE'});
        return [up.status, del.status];
    }""")
    assert statuses == [403, 403]
    assert (sockdash.root / "hello.txt").exists()


def test_listing_updates_live_for_files_written_on_disk(page: Page, sockdash: harness.Sockdash) -> None:
    page.goto(f"{sockdash.base_url}/files")
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.get_by_role("link", name="hello.txt")).to_be_visible()
    (sockdash.root / "dropped-on-disk.txt").write_text("copied in with cp")
    expect(page.get_by_role("link", name="dropped-on-disk.txt")).to_be_visible()
    (sockdash.root / "dropped-on-disk.txt").unlink()
    expect(page.get_by_role("link", name="dropped-on-disk.txt")).to_have_count(0)


def test_fetch_commands_sort_filter_and_folders(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    (fresh_sockdash.root / "big.bin").write_bytes(b"x" * 5000)
    (fresh_sockdash.root / "sub").mkdir()
    (fresh_sockdash.root / "sub" / "inner.txt").write_text("inner")
    page.goto(f"{fresh_sockdash.base_url}/files")
    page.get_by_role("button", name="How to fetch big.bin").click()
    commands = page.locator("tr.details pre").all_inner_texts()
    ports = fresh_sockdash.ports
    assert any(c.startswith("curl -O http://") and f":{ports['http']}/files/big.bin" in c for c in commands)
    assert any(f" {ports['tftp']} -m binary -c get big.bin" in c for c in commands)
    assert any("| nc " in c and f" {ports['file']} > big.bin" in c for c in commands)
    page.get_by_role("button", name="Compute SHA-256 of big.bin").click()
    import hashlib
    expect(page.locator("p.sha code")).to_have_text(hashlib.sha256(b"x" * 5000).hexdigest())
    page.get_by_role("button", name="Size").click()
    names = page.locator("#file-rows > tr:not(.details) td:first-child").all_inner_texts()
    assert names == ["sub/", "hello.txt", "big.bin"]
    page.get_by_label("Filter").fill("big")
    expect(page.locator("#file-rows > tr:not(.details)")).to_have_count(1)
    page.get_by_label("Filter").fill("")
    page.get_by_role("link", name="sub/").click()
    expect(page.get_by_role("link", name="inner.txt")).to_be_visible()
    expect(page.locator("#crumbs")).to_contain_text("files / sub")
    page.go_back()
    expect(page.get_by_role("link", name="big.bin")).to_be_visible()


def test_over_limit_file_is_refused_before_sending(page: Page, tmp_path: Path) -> None:
    proc = harness.start(tmp_path, "--max-upload", "1K")
    try:
        big = tmp_path / "too-big.bin"
        big.write_bytes(b"y" * 4096)
        login(page, proc)
        page.goto(f"{proc.base_url}/files")
        page.set_input_files("#file-input", [str(big)])
        expect(page.locator("#uploads li")).to_contain_text("not sent: larger than the upload limit")
        assert not (proc.root / "too-big.bin").exists()
    finally:
        proc.stop()


def test_admin_makes_folders_and_renames_in_the_page_without_prompt(
        page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    page.goto(f"{fresh_sockdash.base_url}/files")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.accept()))
    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill("configs")
    page.get_by_label("Folder name").press("Enter")
    expect(page.get_by_role("link", name="configs/")).to_be_visible()
    expect(page.get_by_label("Folder name")).to_be_hidden()
    page.get_by_role("button", name="New folder").click()  # a taken name: the error next to the field
    page.get_by_label("Folder name").fill("configs")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#new-folder-error")).to_contain_text("exists")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_label("Folder name")).to_be_hidden()
    page.get_by_role("button", name="Rename hello.txt").click()
    field = page.get_by_label("New name for hello.txt")
    expect(field).to_be_focused()
    expect(field).to_have_value("hello.txt")
    field.press("Escape")  # Escape gives the name back
    expect(page.get_by_role("link", name="hello.txt")).to_be_visible()
    page.get_by_role("button", name="Rename hello.txt").click()
    page.get_by_label("New name for hello.txt").fill("configs")  # taken: said in the row, nothing renamed
    page.get_by_role("button", name="Save the new name of hello.txt").click()
    expect(page.locator("#file-rows .rename-form .error")).to_contain_text("exists")
    (fresh_sockdash.root / "meanwhile.txt").write_text("a live refresh must not lose the name being typed")
    page.get_by_label("New name for hello.txt").fill("hello-renamed.txt")
    expect(page.get_by_role("link", name="meanwhile.txt")).to_be_visible()
    expect(page.get_by_label("New name for hello.txt")).to_have_value("hello-renamed.txt")
    page.get_by_label("New name for hello.txt").press("Enter")
    expect(page.get_by_role("link", name="hello-renamed.txt")).to_be_visible()
    page.get_by_role("button", name="Delete hello-renamed.txt").click()
    expect(page.get_by_role("link", name="hello-renamed.txt")).to_have_count(0)
    assert sorted(p.name for p in fresh_sockdash.root.iterdir()) == ["configs", "meanwhile.txt"]
    assert dialogs == ["confirm"]  # only Delete asks, and not with a prompt()


def test_cancelled_upload_leaves_nothing(page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    big = tmp_path / "slow.bin"
    big.write_bytes(os.urandom(4 << 20))
    login(page, fresh_sockdash)
    page.goto(f"{fresh_sockdash.base_url}/files")
    cdp = page.context.new_cdp_session(page)  # a slow uplink: 200 KB/s, so Cancel comes mid-upload
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 200_000})
    page.set_input_files("#file-input", [str(big)])
    fresh_sockdash.wait_for(lambda: any(p.name.endswith(".sockdash-part") for p in fresh_sockdash.root.iterdir()),
                            timeout=10)
    page.get_by_role("button", name="Cancel upload of slow.bin").click()
    expect(page.locator("#uploads li")).to_contain_text("cancelled")
    fresh_sockdash.wait_for(lambda: sorted(p.name for p in fresh_sockdash.root.iterdir()) == ["hello.txt"],
                            timeout=10)


def test_names_that_are_not_utf8_are_listed_readably_fetched_renamed_and_deleted(
        page: Page, fresh_sockdash: harness.Sockdash) -> None:
    root = os.fsencode(fresh_sockdash.root)
    gbk, invalid = "你好.txt".encode("gbk"), b"\xff\xfe.bin"  # as unzipped from Windows; neither UTF-8 nor GBK
    for raw in (gbk, invalid):
        with open(root + b"/" + raw, "wb") as f:
            f.write(b"content of " + raw)
    login(page, fresh_sockdash)
    page.goto(f"{fresh_sockdash.base_url}/files")
    expect(page.get_by_role("link", name="hello.txt")).to_be_visible()  # one odd name used to blank them all
    expect(page.get_by_role("link", name="你好.txt", exact=True)).to_be_visible()
    expect(page.locator("#file-rows tr", has_text="你好.txt").locator(".badge")).to_have_text("GBK")
    expect(page.get_by_role("link", name="\\xff\\xfe.bin")).to_be_visible()
    expect(page.locator("#file-rows tr", has_text="\\xff\\xfe.bin").locator(".badge")).to_have_text("bytes")
    with page.expect_download() as info:
        page.get_by_role("link", name="你好.txt", exact=True).click()
    assert info.value.suggested_filename == "你好.txt"
    assert Path(info.value.path()).read_bytes() == b"content of " + gbk
    page.get_by_role("button", name="How to fetch \\xff\\xfe.bin").click()
    commands = page.locator("tr.details pre").all_inner_texts()
    assert any("-c get \"$(printf '\\377\\376.bin')\"" in c for c in commands), commands
    assert any(f":{fresh_sockdash.ports['http']}/files/%FF%FE.bin" in c for c in commands), commands
    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Rename 你好.txt").click()
    # the readable name: accepting it would store the name in UTF-8
    expect(page.get_by_label("New name for 你好.txt")).to_have_value("你好.txt")
    page.get_by_label("New name for 你好.txt").fill("配置-renamed.txt")
    page.get_by_label("New name for 你好.txt").press("Enter")
    expect(page.get_by_role("link", name="配置-renamed.txt")).to_be_visible()
    page.get_by_role("button", name="Delete \\xff\\xfe.bin").click()
    expect(page.get_by_role("link", name="\\xff\\xfe.bin")).to_have_count(0)
    assert sorted(os.listdir(root)) == sorted([b"hello.txt", "配置-renamed.txt".encode()])
    assert page.locator("#files-error").is_hidden()


def test_a_chinese_name_is_saved_under_its_name_by_curl_oj_the_browser_and_every_copied_command(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    """Content-Disposition had `filename=.txt` (werkzeug drops non-ASCII): curl -OJ saved a
    hidden `.txt`. Now an ASCII fallback keeps a readable stem and the extension, and
    filename* gives browsers the real name; each Fetch… command, run as copied, saves 配置.txt."""
    proc = fresh_sockdash
    content = b"hostname sw1\n" * 100
    (proc.root / "配置.txt").write_bytes(content)
    page.goto(f"{proc.base_url}/files")
    page.get_by_role("button", name="How to fetch 配置.txt").click()
    details = page.locator("tr.details .hint")
    expect(details).to_have_count(3)
    commands = {d.locator(".hint-label").inner_text(): d.locator("pre").inner_text() for d in details.all()}
    url = f"http://127.0.0.1:{proc.ports['http']}/files/%E9%85%8D%E7%BD%AE.txt"
    assert commands["curl"] == f"curl -o '配置.txt' {url}"
    for label, command in commands.items():
        folder = tmp_path / label
        folder.mkdir()
        subprocess.run(["bash", "-c", command], cwd=folder, timeout=30, check=True, capture_output=True)
        assert os.listdir(folder) == ["配置.txt"] and (folder / "配置.txt").read_bytes() == content, label
    folder = tmp_path / "curl-OJ"
    folder.mkdir()
    subprocess.run(["curl", "-sfOJ", url], cwd=folder, check=True, timeout=30)
    assert os.listdir(folder) == ["PeiZhi.txt"] and (folder / "PeiZhi.txt").read_bytes() == content
    with page.expect_download() as info:
        page.get_by_role("link", name="配置.txt").click()
    assert info.value.suggested_filename == "配置.txt"


def test_every_cell_of_a_file_row_lines_up_with_its_row(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    """The Actions cell was a flex box, not a table cell: its border and height left the row's."""
    (fresh_sockdash.root / "a-name-long-enough-to-wrap-in-its-cell-on-a-narrow-window-v1.2.3.bin").write_text("x")
    login(page, fresh_sockdash)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{fresh_sockdash.base_url}/files")
        expect(page.locator("#file-rows > tr")).to_have_count(2)
        off = page.evaluate("""() => [...document.querySelectorAll('#file-rows > tr')].flatMap(tr => {
            const row = tr.getBoundingClientRect();
            return [...tr.children].filter(td => getComputedStyle(td).display !== 'none').map(td => {
                const r = td.getBoundingClientRect();
                return [td.cellIndex, r.top < row.top - 1 || r.bottom > row.bottom + 1
                        || getComputedStyle(td).display.startsWith('flex')];
            }).filter(([, bad]) => bad).map(([i]) => `${tr.innerText.slice(0, 20)}: cell ${i}`);
        })""")
        assert off == [], width
        if width == 1280:  # one line per file: every cell as tall as the row
            heights = page.evaluate("""() => [...document.querySelectorAll('#file-rows > tr')].map(tr =>
                [...tr.children].map(td => Math.round(td.getBoundingClientRect().height)))""")
            assert all(len(set(row)) == 1 for row in heights), heights


def test_an_upload_in_progress_is_listed_with_the_files_size_not_the_request_body(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    image = tmp_path / "image.bin"
    image.write_bytes(os.urandom(600_000))
    login(page, fresh_sockdash)
    page.goto(f"{fresh_sockdash.base_url}/files")
    cdp = page.context.new_cdp_session(page)  # 200 KB/s uplink: the upload runs for seconds
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 200_000})
    page.set_input_files("#file-input", [str(image)])
    running = fresh_sockdash.wait_for(lambda: [t for t in fresh_sockdash.get_json("/api/transfers")["transfers"]
                                               if t["result"] is None])
    assert [(t["direction"], t["size"]) for t in running] == [("upload", 600_000)]  # was 600,000 + the framing
    row = page.locator("#transfer-rows tr", has_text="image.bin")
    expect(row).to_have_attribute("data-status", "running")
    expect(row.locator("td").nth(3)).to_contain_text("of 586 KiB")
    expect(page.locator("#uploads li")).to_have_attribute("data-result", "ok", timeout=20_000)
    expect(row).to_have_attribute("data-status", "ok")
    expect(row.locator("td").nth(3)).to_have_text("100% · 586 KiB of 586 KiB")


def test_refused_requests_are_listed_marked_refused_with_the_reason(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    proc = fresh_sockdash
    page.goto(f"{proc.base_url}/files")
    expect(page.locator("#live-state")).to_have_text("live")
    subprocess.run(["tftp", "127.0.0.1", str(proc.ports["tftp"]), "-m", "binary", "-c", "get", "switch.cfg"],
                   check=False, cwd=tmp_path, capture_output=True, timeout=20)
    subprocess.run(["curl", "-s", "-o", "/dev/null", f"{proc.base_url}/files/boot.img"], timeout=20, check=True)
    with socket.create_connection(("127.0.0.1", proc.ports["file"]), timeout=5) as s:
        s.sendall("固件.bin".encode())
        s.recv(16)
    refused = page.locator('#transfer-rows tr[data-status="refused"]')
    expect(refused).to_have_count(3)
    expect(refused.filter(has_text="switch.cfg")).to_contain_text("refused: ERROR 1: File not found")
    expect(refused.filter(has_text="switch.cfg").locator("td").first).to_have_text("TFTP ↓download")
    expect(refused.filter(has_text="boot.img")).to_contain_text("refused: 404: no such file")
    expect(refused.filter(has_text="固件.bin")).to_contain_text("refused: no such file")


def test_a_running_tftp_download_shows_percent_elapsed_eta_rate_and_options_and_is_a_card_on_a_phone(
        browser: Browser, fresh_sockdash: harness.Sockdash) -> None:
    proc = fresh_sockdash
    (proc.root / "image.bin").write_bytes(os.urandom(200_000))
    with slow_tftp_download(proc, "image.bin") as started:
        assert started.wait(5)
        for width, height in ((1280, 800), (390, 844)):
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.goto(f"{proc.base_url}/files")
            row = page.locator("#transfer-rows tr", has_text="image.bin")
            expect(row).to_have_attribute("data-status", "running")
            cells = row.locator("td")
            expect(cells.nth(0)).to_have_text("TFTP ↓download")  # the word is for screen readers
            expect(cells.nth(3)).to_contain_text(re.compile(r"^\d+% · [\d.]+ KiB of 195 KiB$"))
            elapsed = cells.nth(4).inner_text()
            assert re.fullmatch(r"\d+ s", elapsed), elapsed
            expect(cells.nth(4)).not_to_have_text(elapsed)  # counts on between updates
            expect(cells.nth(5)).to_have_text(re.compile(r"^(\d+ min \d\d s|\d+ s)$"))
            expect(cells.nth(6)).to_have_text(re.compile(r"^[\d.]+ (B|KiB)/s$"))
            expect(cells.nth(7)).to_have_text("tsize=200000")
            expect(cells.nth(8)).to_have_text("running")
            header_shown = page.evaluate(
                "document.querySelector('table.transfers thead').getBoundingClientRect().height > 1")
            card = page.evaluate("""() => { const tr = document.querySelector('#transfer-rows tr');
                return [getComputedStyle(tr).display, tr.getBoundingClientRect().width,
                        document.documentElement.scrollWidth - document.documentElement.clientWidth]; }""")
            if width == 390:  # a card: labelled fields, no header row, nothing wider than the screen
                assert not header_shown and card[0] == "grid" and card[1] <= 390 and card[2] <= 0, card
                assert page.evaluate("getComputedStyle(document.querySelector('#transfer-rows td'), '::before')"
                                     ".content") == '"Transfer"'
            else:
                assert header_shown and card[0] == "table-row", card
            context.close()


def test_an_upload_over_a_taken_name_offers_replace_and_finished_uploads_clear(
        page: Page, fresh_sockdash: harness.Sockdash, tmp_path: Path) -> None:
    newer = tmp_path / "hello.txt"
    newer.write_text("the newer hello")
    other = tmp_path / "other.txt"
    other.write_text("other")
    login(page, fresh_sockdash)
    page.goto(f"{fresh_sockdash.base_url}/files")
    clear = page.get_by_role("button", name="Clear finished")
    expect(clear).to_be_hidden()
    page.set_input_files("#file-input", [str(newer)])
    item = page.locator("#uploads li", has_text="hello.txt")
    expect(item).to_have_attribute("data-result", "conflict")
    expect(item).to_contain_text("hello.txt exists already: nothing was changed.")
    assert (fresh_sockdash.root / "hello.txt").read_text() != "the newer hello"
    replace = page.get_by_role("button", name="Replace hello.txt with the uploaded file")
    expect(replace).to_be_focused()
    replace.click()
    expect(item).to_have_attribute("data-result", "ok")
    expect(item).to_contain_text("replaced")
    assert (fresh_sockdash.root / "hello.txt").read_text() == "the newer hello"
    page.set_input_files("#file-input", [str(other)])
    expect(page.locator("#uploads li")).to_have_count(2)
    expect(page.locator("#uploads li").nth(1)).to_have_attribute("data-result", "ok")
    clear.click()
    expect(page.locator("#uploads li")).to_have_count(0)
    expect(clear).to_be_hidden()
