"""What a URL looks like in the log: which target it was, without the credentials it may carry."""

from __future__ import annotations

import pytest

from tidings.log import safe_url


@pytest.mark.parametrize(("url", "logged"), [
    ("https://hooks.example.com/beams", "https://hooks.example.com/beams"),
    ("https://user:pass@hooks.example.com/beams", "https://***@hooks.example.com/beams"),
    ("https://token@hooks.example.com:8443/x", "https://***@hooks.example.com:8443/x"),
    ("https://hooks.example.com/x?api_key=abc&b=2", "https://hooks.example.com/x?***"),
    ("https://u:p@hooks.example.com/x?k=v#frag", "https://***@hooks.example.com/x?***"),
    ("http://[::1]:8080/hook?k=v", "http://[::1]:8080/hook?***"),
    ("https://hooks.example.com/x#secret-fragment", "https://hooks.example.com/x"),
    ("http://h:notaport/x", "(unparseable URL)"),
    ("http://[::1/x", "(unparseable URL)"),
])
def test_safe_url(url: str, logged: str) -> None:
    assert safe_url(url) == logged
