"""The browser check itself: headless Chromium (through tests/chromium.py) reports a JavaScript
error and an image that does not load, and passes a sound page. In CI (CI=true) a missing
browser fails these tests instead of skipping them."""

from chromium import Chromium, chromium_or_skip

PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
         "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
IMAGE_LOADED = ("Array.from(document.images).every(i => i.complete) && "
                "Array.from(document.images).map(i => i.naturalWidth)")


def test_a_sound_page_has_no_errors_and_its_image_loads(tmp_path):
    page = tmp_path / "good.html"
    page.write_text(f"<html><body><h1>fine</h1><img src='{PIXEL}'></body></html>")
    with Chromium(chromium_or_skip()) as browser:
        browser.open(page.as_uri())
        assert browser.wait_for(IMAGE_LOADED, "the image") == [1]
        shot = browser.screenshot(tmp_path / "good.png")
        assert browser.errors == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_javascript_error_and_a_broken_image_are_reported(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><img src='missing.png'>"
                    "<script>undefinedFunction();</script></body></html>")
    with Chromium(chromium_or_skip()) as browser:
        browser.open(page.as_uri())
        assert browser.wait_for(IMAGE_LOADED, "the image") == [0]
        errors = "\n".join(browser.errors)
    assert "undefinedFunction is not defined" in errors
    assert "missing.png" in errors or "ERR_FILE_NOT_FOUND" in errors
