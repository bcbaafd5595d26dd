"""The docs site without Quarto: build it from the notebooks, serve it over HTTP, read it back in headless Chromium."""
import re, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from trainlib.docs import build_docs

CHROMIUM = Path("/usr/bin/chromium")
MODULE_PAGES = ["config", "data", "store", "augment", "models", "train", "evaluate", "report", "cli", "docs"]
# The default run executes the notebooks with the plots the checks look at; the others get their API tables only.
EXECUTE = ["01_data.ipynb", "09_evaluate.ipynb"]


def _serve(site: Path):
    "Start `python -m http.server` on a free 127.0.0.1 port serving `site`; return (process, base url)."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "index.html", timeout=1).close(); return proc, base
        except OSError: time.sleep(0.1)
    proc.terminate(); proc.wait(timeout=10)
    raise RuntimeError(f"http.server did not start on port {port}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    "The site built from nbs/ (evaluate and data executed in full), served on localhost."
    dest = build_docs(ROOT/"nbs", tmp_path_factory.mktemp("docs")/"_docs", use_quarto=False, execute=EXECUTE)
    proc, base = _serve(dest)
    yield dest, base
    proc.terminate(); proc.wait(timeout=10)


@pytest.fixture
def chromium(tmp_path):
    "Run headless Chromium on a URL: the DOM after load, or a screenshot with `screenshot=`."
    if not CHROMIUM.exists(): pytest.skip("needs Chromium at /usr/bin/chromium (Debian package chromium)")
    def run(url, screenshot=None):
        args = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path/'chromium'}"]
        args += [f"--screenshot={screenshot}", "--window-size=1200,900"] if screenshot else ["--dump-dom"]
        r = subprocess.run([*args, url], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout
    return run


def test_every_notebook_has_a_page(site):
    dest, _ = site
    for name in MODULE_PAGES + ["index", "reports/train"]: assert (dest/f"{name}.html").is_file(), name
    assert (dest/"style.css").is_file() and (dest/"search.js").is_file()


def test_index_links_every_module_page(site, chromium):
    dom = chromium(site[1] + "index.html")
    links = set(re.findall(r'<a href="([^"#?]+)"', dom))
    assert {f"{p}.html" for p in MODULE_PAGES} <= links, sorted(links)
    assert "reports/train.html" in links


def test_linked_images_exist(site):
    dest, _ = site
    for page in dest.rglob("*.html"):
        for src in re.findall(r'<img [^>]*src="([^"]+)"', page.read_text()):
            if not src.startswith(("data:", "http")): assert (page.parent/src).is_file(), f"{page.name} links missing {src}"


def test_pages_show_plots(site, chromium):
    for page in ("evaluate", "data"):
        dom = chromium(site[1] + f"{page}.html")
        assert re.search(r'<img [^>]*src="data:image/png;base64,', dom), f"no plot on {page}.html"


def test_config_api_section_shows_trainconfig(site, chromium):
    dom = chromium(site[1] + "config.html")
    text = re.sub(r"<[^>]+>", "", dom)
    assert re.search(r'<h3 id="trainconfig">TrainConfig', dom)
    assert "TrainConfig (etl:EtlConfig=None" in text      # show_doc's signature
    assert "def from_dict(cls, d:dict|None" in text      # exported source is shown
    assert "from fastcore.test import" not in text       # hidden cells are not


def test_search_finds_api_entries(site, chromium):
    dom = chromium(site[1] + "reports/train.html?q=load_config")
    results = re.search(r'<ul id="search-results">(.*?)</ul>', dom, re.S)[1]
    assert 'href="../config.html#load_config"' in results, results[:2000]


def test_index_screenshot(site, chromium, tmp_path):
    png = tmp_path/"index.png"
    chromium(site[1] + "index.html", screenshot=png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 1200 and len(data) > 20_000


@pytest.mark.slow
def test_full_build_executes_every_notebook(tmp_path, chromium):
    start = time.time()
    dest = build_docs(ROOT/"nbs", tmp_path/"_docs", use_quarto=False)
    print(f"full docs build: {time.time() - start:.0f} s")
    for page in ("reports/train", "train", "evaluate", "augment"):
        assert "data:image/png;base64," in (dest/f"{page}.html").read_text(), f"no plot on {page}.html"
    proc, base = _serve(dest)
    try: assert re.search(r'<img [^>]*src="data:image/png', chromium(base + "reports/train.html"))
    finally: proc.terminate(); proc.wait(timeout=10)
