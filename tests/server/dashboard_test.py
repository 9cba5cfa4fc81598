#!/usr/bin/env python3
"""Headless Chromium loads the dashboard served by `ringkernel serve`, sees the live numbers change, the actor
table fill and the event log grow, and saves a screenshot (a test artifact) with --screenshot.

Needs Debian's chromium + chromium-driver and selenium (pinned in scripts/requirements.txt). The page must
work offline: Chromium runs with networking limited to the loopback server (a CDN reference would fail)."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import StaleElementReferenceException
except ImportError:
    sys.exit("dashboard_test.py: selenium is missing: python3 -m pip install -r scripts/requirements.txt")


def find(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    sys.exit("dashboard_test.py: none of %s found (apt-get install chromium chromium-driver)" % ", ".join(names))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringkernel", required=True)
    ap.add_argument("--screenshot", required=True)
    a = ap.parse_args()
    chrome = find("chromium", "chromium-browser", "google-chrome")
    driver_bin = find("chromedriver")

    with tempfile.TemporaryDirectory() as d:
        port_file = os.path.join(d, "port")
        srv = subprocess.Popen([a.ringkernel, "serve", "--port", "0", "--port-file", port_file, "--rate", "2000",
                                "--fail-every", "500", "--stats-ms", "500"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        browser = None
        try:
            deadline = time.time() + 15
            while not os.path.exists(port_file):
                assert srv.poll() is None and time.time() < deadline, "serve did not start"
                time.sleep(0.02)
            port = int(open(port_file).read())

            opts = webdriver.ChromeOptions()
            opts.binary_location = chrome
            for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                        "--window-size=1280,1000", "--user-data-dir=" + os.path.join(d, "profile"),
                        # Offline: anything but the loopback server is unreachable.
                        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"):
                opts.add_argument(arg)
            browser = webdriver.Chrome(service=Service(executable_path=driver_bin), options=opts)
            browser.set_page_load_timeout(30)
            browser.get("http://127.0.0.1:%d/" % port)

            def text(elem_id):
                return browser.find_element(By.ID, elem_id).text

            def wait(cond, what, timeout=20):
                end = time.time() + timeout
                while time.time() < end:
                    try:
                        if cond():
                            return
                    except StaleElementReferenceException:
                        pass  # the table is re-rendered on every stats event; look again
                    time.sleep(0.1)
                raise AssertionError("timed out waiting for " + what + "; page text:\n" +
                                     browser.find_element(By.TAG_NAME, "body").text[:2000])

            wait(lambda: text("conn") == "live", "the SSE connection")
            wait(lambda: text("processed") not in ("-", ""), "the first stats snapshot")
            first = text("processed")
            wait(lambda: text("processed") != first, "the processed count to change")
            wait(lambda: text("rate") not in ("-", "") and text("rate") != "0", "a throughput figure")
            # Read and click inside the page in one step each: the table is rebuilt on every stats event, so
            # element handles held across calls go stale.
            names_js = "return Array.from(document.querySelectorAll('#actors tbody tr')).map(r => r.dataset.actor);"
            wait(lambda: len(browser.execute_script(names_js)) >= 5, "the actor table")
            names = browser.execute_script(names_js)
            assert "aggregate" in names and "flaky" in names, names
            # flaky fails every 500 messages: restarts show up in the event log.
            wait(lambda: "restarted flaky" in text("log"), "a lifecycle event in the log")
            wait(lambda: text("ready").startswith("ready"), "the readiness pill")
            # Drive the system from the page: deactivate `transform` through the WebSocket.
            click_js = ("const b = document.querySelector('#actors tbody tr[data-actor=\"transform\"] button');"
                        "if (!b || b.textContent !== 'deactivate') return false; b.click(); return true;")
            wait(lambda: browser.execute_script(click_js), "the deactivate button of transform")
            wait(lambda: "deactivated transform" in text("log"), "the deactivation event")
            time.sleep(3)  # a few more stats snapshots, so the charts in the screenshot show a history
            errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
            assert not errors, "console errors: %r" % errors
            browser.save_screenshot(a.screenshot)
            assert os.path.getsize(a.screenshot) > 10000, "screenshot too small"
            print("dashboard_test.py: ok, screenshot at " + a.screenshot)
        finally:
            if browser is not None:
                browser.quit()
            srv.terminate()
            try:
                srv.wait(timeout=15)
            except subprocess.TimeoutExpired:
                srv.kill()


if __name__ == "__main__":
    main()
