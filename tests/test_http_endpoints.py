"""Health checks and the offline GraphiQL page."""

from __future__ import annotations

import re

import httpx

from seggraph.web.graphiql import ASSET_NAMES


def test_healthz_and_readyz(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_graphiql_page_loads_every_asset_from_seggraph_itself(http: httpx.Client) -> None:
    page = http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls, "the page loads no scripts or styles"
    for url in urls:
        assert url.startswith("/"), f"{url} would need the internet"
        asset = http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert {url.rsplit("/", 1)[1] for url in urls} == set(ASSET_NAMES)


def test_unknown_asset_is_404(http: httpx.Client) -> None:
    assert http.get("/graphiql-assets/../../etc/passwd").status_code == 404
    assert http.get("/graphiql-assets/evil.js").status_code == 404
