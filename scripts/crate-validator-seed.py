"""Seeds rocrate-validator's HTTP cache with JSON-LD context documents from local files.

rocrate-validator resolves a crate's remote ``@context`` over HTTP, through a requests_cache
cache it can also read offline (``--offline --cache-path``). On a machine without network the
first validation would fail, so scripts/ensure-crate-validator.sh stores the contexts a ragomics
crate uses here first, taken from a PyPI package (see that script), and the test validates
offline. The response is stored by making the request itself through the cache, with a
transport that answers from the local file: the cache key is then exactly the one the
validator computes for the same request.

Usage: python crate-validator-seed.py CACHE_PATH URL=FILE [URL=FILE ...]
"""

import io
import sys

import requests
from requests.adapters import BaseAdapter
from requests_cache import CachedSession
from urllib3 import HTTPResponse

# The header rocrate_validator.utils.document_loader sends for contexts.
ACCEPT = "application/ld+json, application/json, */*;q=0.1"


class LocalFiles(BaseAdapter):
    """Answers GET requests for known URLs from local files (200, application/ld+json)."""

    def __init__(self, files):
        super().__init__()
        self.files = files

    def send(self, request, **kwargs):
        # kwargs: stream, timeout, verify, ... (requests passes them; a local file needs none).
        resp = requests.Response()
        resp.request = request
        resp.url = request.url
        resp.status_code = 200
        resp.reason = "OK"
        headers = {"Content-Type": "application/ld+json"}
        with open(self.files[request.url], "rb") as f:
            data = f.read()
        resp.headers.update(headers)
        # requests_cache stores the urllib3 response too, as a real fetch would leave it.
        resp.raw = HTTPResponse(body=io.BytesIO(data), headers=headers, status=200, preload_content=False, request_url=request.url)
        resp._content = data
        resp.encoding = "utf-8"
        return resp

    def close(self):
        pass


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: crate-validator-seed.py CACHE_PATH URL=FILE [URL=FILE ...]")
    cache_path, pairs = argv[0], argv[1:]
    files = dict(p.split("=", 1) for p in pairs)
    # Same backend and expiry as the validator's own session (never expire).
    session = CachedSession(cache_name=cache_path, expire_after=-1)
    adapter = LocalFiles(files)
    for url in files:
        session.mount(url, adapter)
    for url in files:
        resp = session.get(url, headers={"Accept": ACCEPT}, allow_redirects=True)
        if resp.status_code != 200:
            sys.exit(f"could not store {url} in the validator's cache (status {resp.status_code})")


if __name__ == "__main__":
    main(sys.argv[1:])
