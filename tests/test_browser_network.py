"""What works where (docs/teachable-machine.md's table), measured in Chromium: a page on a public
HTTPS origin loading a published model from a server on the local network or on this computer, with
Chromium's --ip-address-space-overrides saying which address is public and which local.

(a) HTTPS public page → `teachable serve --https` on this machine's network address, local-network permission
    granted: Teachable Machine's tmImage predicts what Teachable predicts;
(b) the same over plain HTTP is blocked as mixed content (the browser's message is recorded: this is
    the documented limit, not a pass);
(d) a public page → the server on loopback: refused without the permission, works with it.
"""

from __future__ import annotations

import functools
import shutil
import ssl
import threading
from http.server import ThreadingHTTPServer

import numpy as np
import pytest

import teachable
from teachable.dataset import Dataset
from teachable.embed.preprocess import pixels
from teachable.server.app import create_app
from teachable.server.tls import certificate_for, local_names
from teachable.workspace import Workspace

from photos import photo, random_view, write_views
from test_browser import CHROMIUM
from test_browser_tm import SCRIPTS, TM_PAGE as PAGE, Quiet, playwright_instance  # noqa: F401 (a fixture)
from test_teachable_machine import agree

pytestmark = pytest.mark.skipif(not all(p.exists() for p in SCRIPTS.values()), reason="needs make node-deps")

def serve_folder(folder, host: str, tls=None) -> tuple[str, ThreadingHTTPServer]:
    server = ThreadingHTTPServer((host, 0), functools.partial(Quiet, directory=str(folder)))
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls.certificate), str(tls.key))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}", server


class UvicornThread:
    """The app under uvicorn on a given address, with TLS when asked."""

    def __init__(self, app, host: str, tls=None) -> None:
        import uvicorn

        extra = {"ssl_certfile": str(tls.certificate), "ssl_keyfile": str(tls.key)} if tls else {}
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning", **extra))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.scheme, self.host = ("https" if tls else "http"), host

    def __enter__(self) -> str:
        import time

        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        return f"{self.scheme}://{self.host}:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """A published model in a workspace; a public site (HTTPS, 127.0.0.1) with the page's libraries and photos."""
    workspace = Workspace(tmp_path_factory.mktemp("ws"))
    model = teachable.train(Dataset.from_folder(write_views(tmp_path_factory.mktemp("d"), 6, 81)), classifier="head", epochs=30)
    project = workspace.create("Photos")
    project.store_model(model, {"classifier": "head"})
    key = project.publish(True)
    project.close()
    lan = next((n for n in local_names("0.0.0.0") if n.count(".") == 3 and not n.startswith("127.")), None)
    if lan is None:
        pytest.skip("this machine has no network address besides loopback")
    tls = certificate_for(["127.0.0.1", "localhost", lan], tmp_path_factory.mktemp("tls"))
    site = tmp_path_factory.mktemp("site")
    for name, source in SCRIPTS.items():
        shutil.copy(source, site / name)
    rng = np.random.default_rng(82)
    names = []
    for i, label in enumerate(("cat", "rocket", "astronaut")):
        random_view(photo(label), rng).resize((224, 224)).save(site / f"photo{i}.png")
        names.append(f"photo{i}.png")
    public, static = serve_folder(site, "127.0.0.1", tls)
    yield {"workspace": workspace, "key": key, "model": model, "tls": tls, "site": site, "images": names, "public": public,
           "lan": lan}
    static.shutdown()


def open_page(playwright_instance, setting, model_base: str, granted: bool) -> dict:
    """The public page loading the model at model_base; what it got, or the failure and console."""
    page_name = f"page-{abs(hash((model_base, granted)))}.html"
    images = "".join(f'<img src="{n}" width="224" height="224">' for n in setting["images"])
    (setting["site"] / page_name).write_text(PAGE.format(url=f"{model_base}/tm/{setting['key']}/", images=images))
    public_port = setting["public"].rsplit(":", 1)[1]
    model_address = model_base.split("://", 1)[1]
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--ignore-certificate-errors",
        f"--ip-address-space-overrides=127.0.0.1:{public_port}=public"
        + ("" if model_address.startswith("127.0.0.1:") else f",{model_address}=local")])
    console: list[str] = []
    try:
        context = browser.new_context()
        if granted:
            context.grant_permissions(["local-network-access"], origin=setting["public"])
        page = context.new_page()
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"{setting['public']}/{page_name}")
        page.wait_for_function("() => window.results || window.failure", timeout=120_000)
        return {"results": page.evaluate("window.results"), "failure": page.evaluate("window.failure"), "console": console}
    finally:
        browser.close()


def expected(setting) -> np.ndarray:
    model = setting["model"]
    return np.array([[model.predict(pixels(setting["site"] / n)).confidences[label] for label in model.labels]
                     for n in setting["images"]])


def test_a_https_page_reads_a_https_server_on_the_local_network_once_allowed(setting, playwright_instance):
    with UvicornThread(create_app(setting["workspace"]), setting["lan"], setting["tls"]) as base:
        got = open_page(playwright_instance, setting, base, granted=True)
    assert got["failure"] is None, got
    labels = setting["model"].labels
    agree(np.array([[r[label] for label in labels] for r in got["results"]]), expected(setting))


def test_b_plain_http_on_the_local_network_is_blocked_as_mixed_content(setting, playwright_instance):
    with UvicornThread(create_app(setting["workspace"]), setting["lan"]) as base:
        got = open_page(playwright_instance, setting, base, granted=True)
    assert got["results"] is None and got["failure"], got
    said = "\n".join(got["console"])
    print("mixed content:", said)
    assert "Mixed Content" in said, said  # "… was loaded over HTTPS, but requested an insecure resource …"


@pytest.mark.parametrize("granted", [False, True])
def test_d_loopback_from_a_public_page_needs_the_permission(setting, playwright_instance, granted):
    with UvicornThread(create_app(setting["workspace"]), "127.0.0.1") as base:
        got = open_page(playwright_instance, setting, base, granted=granted)
    if granted:
        assert got["failure"] is None, got
        labels = setting["model"].labels
        agree(np.array([[r[label] for label in labels] for r in got["results"]]), expected(setting))
    else:
        assert got["results"] is None and got["failure"], got
        said = "\n".join(got["console"])
        print("loopback refused:", said)
        assert "loopback" in said or "local" in said.lower(), said
