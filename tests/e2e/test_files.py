import os
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

from tests import harness


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


def test_admin_makes_renames_and_deletes(page: Page, fresh_sockdash: harness.Sockdash) -> None:
    login(page, fresh_sockdash)
    page.goto(f"{fresh_sockdash.base_url}/files")
    answers = iter(["configs", "hello-renamed.txt"])
    page.on("dialog", lambda d: d.accept(next(answers, "")) if d.type == "prompt" else d.accept())
    page.get_by_role("button", name="New folder").click()
    expect(page.get_by_role("link", name="configs/")).to_be_visible()
    page.get_by_role("button", name="Rename hello.txt").click()
    expect(page.get_by_role("link", name="hello-renamed.txt")).to_be_visible()
    page.get_by_role("button", name="Delete hello-renamed.txt").click()
    expect(page.get_by_role("link", name="hello-renamed.txt")).to_have_count(0)
    assert sorted(p.name for p in fresh_sockdash.root.iterdir()) == ["configs"]


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
    suggested: list[str] = []

    def answer(dialog: Dialog) -> None:
        if dialog.type == "prompt":
            suggested.append(dialog.default_value)
            dialog.accept("配置-renamed.txt")
        else:
            dialog.accept()

    page.on("dialog", answer)
    page.get_by_role("button", name="Rename 你好.txt").click()
    expect(page.get_by_role("link", name="配置-renamed.txt")).to_be_visible()
    assert suggested == ["你好.txt"]  # the readable name: accepting it would store the name in UTF-8
    page.get_by_role("button", name="Delete \\xff\\xfe.bin").click()
    expect(page.get_by_role("link", name="\\xff\\xfe.bin")).to_have_count(0)
    assert sorted(os.listdir(root)) == sorted([b"hello.txt", "配置-renamed.txt".encode()])
    assert page.locator("#files-error").is_hidden()
