"""The gateway HTTP/2 client against a scripted server: streams, flow control, GOAWAY, losses, deadlines, bounds."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import tracemalloc
from collections.abc import AsyncIterator

import h2.errors
import pytest

from tidings.providers.http2 import (
    ConnectError,
    ConnectionClosed,
    Http2Client,
    InvalidRequest,
    RequestTimeout,
    StreamRefused,
    StreamReset,
    parse_origin,
)

from .h2server import Exchange, H2Server, stream_forever

HEADERS = [("content-type", "application/json"), ("apns-topic", "com.example.app")]
# Deadlines in these tests are short so they run fast; the upper bounds asserted on elapsed time are generous,
# for a loaded machine: they only have to tell "ended near the deadline" from "hung".
DEADLINE = 1.5
SLACK = 5.0


@pytest.fixture
async def server() -> AsyncIterator[H2Server]:
    async with H2Server() as running:
        yield running


def client_for(server: H2Server, timeout: float = 5.0, max_body: int = 4096) -> Http2Client:
    return Http2Client(server.client_context(), timeout=timeout, max_body=max_body)


async def test_request_and_answer_over_one_kept_alive_connection(server: H2Server) -> None:
    client = client_for(server)
    try:
        for n in range(3):
            response = await client.request(server.url, f"/3/device/{n}", HEADERS, b'{"n": %d}' % n)
            assert response.status == 200
            assert response.headers["x-echo-path"] == f"/3/device/{n}"
            assert response.body == b"" and not response.truncated
    finally:
        await client.aclose()
    assert len(server.connections) == 1
    first = server.requests[0]
    assert first.headers[":method"] == "POST" and first.headers[":scheme"] == "https"
    assert first.headers[":authority"] == f"127.0.0.1:{server.port}"
    assert first.headers["apns-topic"] == "com.example.app"
    assert [r.body for r in server.requests] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']


async def test_answer_body_and_headers_are_read() -> None:
    async def handler(exchange: Exchange) -> None:
        await exchange.respond(410, [("retry-after", "30"), ("apns-id", "abc")], b'{"reason":"Unregistered"}')

    async with H2Server(handler) as server:
        client = client_for(server)
        try:
            response = await client.request(server.url, "/x", HEADERS, b"{}")
        finally:
            await client.aclose()
    assert (response.status, response.body) == (410, b'{"reason":"Unregistered"}')
    assert response.headers["retry-after"] == "30" and response.headers["apns-id"] == "abc"


async def test_a_base_url_path_prefix_goes_before_the_request_path(server: H2Server) -> None:
    client = client_for(server)
    try:
        await client.request(server.url + "/gateway/", "/3/device/ab", HEADERS, b"{}")
    finally:
        await client.aclose()
    assert server.requests[0].path == "/gateway/3/device/ab"


async def test_concurrent_requests_share_one_connection_within_the_peers_stream_limit() -> None:
    async def slow(exchange: Exchange) -> None:
        await asyncio.sleep(0.02)
        await exchange.respond(200)

    async with H2Server(slow, max_concurrent_streams=5) as server:
        client = client_for(server, timeout=30)
        try:
            answers = await asyncio.gather(*(client.request(server.url, f"/{n}", HEADERS, b"{}") for n in range(60)))
        finally:
            await client.aclose()
    assert [a.status for a in answers] == [200] * 60
    assert len(server.connections) == 1  # the first requests waited for one connect, not one connect each
    assert server.in_flight_max == 5


async def test_request_bodies_respect_the_peers_flow_control_window() -> None:
    # The server's windows are 1000 bytes: a 50 kB body goes out as the server gives window back.
    async with H2Server(initial_window_size=1000) as server:
        client = client_for(server)
        body = bytes(range(256)) * 200
        try:
            answers = await asyncio.gather(*(client.request(server.url, "/big", HEADERS, body) for _ in range(4)))
        finally:
            await client.aclose()
    assert [a.status for a in answers] == [200] * 4
    assert all(r.body == body for r in server.requests)


async def test_an_answer_before_the_whole_body_was_sent_ends_the_request() -> None:
    # The server never gives window back: the client sends 100 bytes of 10 000 and waits for window. The server
    # answers 413 as soon as the headers are in; the request ends there instead of waiting to send the rest.
    async with H2Server(initial_window_size=100, ack_data=False) as server:
        client = client_for(server, timeout=DEADLINE)
        try:
            task = asyncio.ensure_future(client.request(server.url, "/big", HEADERS, b"x" * 10_000))
            while not server.requests:
                await asyncio.sleep(0.01)
            await server.requests[0].respond(413, body=b'{"reason":"PayloadTooLarge"}')
            response = await task
            assert (await client.request(server.url, "/small", HEADERS, b"")).status == 200
        finally:
            await client.aclose()
    assert response.status == 413


async def test_goaway_refuses_the_streams_above_last_stream_id_and_the_next_request_reconnects() -> None:
    arrived: list[Exchange] = []
    release = asyncio.Event()

    async def gather_three(exchange: Exchange) -> None:
        arrived.append(exchange)
        if len(arrived) == 3:
            release.set()
        await release.wait()
        if exchange.stream_id == 1:
            exchange.connection.goaway(last_stream_id=1, data=b'{"reason":"Shutdown"}')
            await asyncio.sleep(0.05)
            await exchange.respond(200)  # streams up to last_stream_id may still complete

    async with H2Server(gather_three) as server:
        client = client_for(server)
        try:
            results = await asyncio.gather(
                *(client.request(server.url, f"/{n}", HEADERS, b"{}") for n in range(3)), return_exceptions=True
            )
            assert results[0].status == 200  # type: ignore[union-attr]
            for refused in results[1:]:
                assert isinstance(refused, StreamRefused) and "Shutdown" in str(refused)
            server.handler = lambda exchange: exchange.respond(200)
            again = await client.request(server.url, "/again", HEADERS, b"{}")
        finally:
            await client.aclose()
    assert again.status == 200
    assert len(server.connections) == 2
    assert server.requests[-1].connection is server.connections[1]


async def test_goaway_while_requests_wait_for_a_stream_moves_them_to_a_new_connection() -> None:
    async def first_says_goaway(exchange: Exchange) -> None:
        if exchange.connection is exchange.connection.server.connections[0]:
            await asyncio.sleep(0.05)
            exchange.connection.goaway(last_stream_id=exchange.stream_id)
            await exchange.respond(200)
        else:
            await exchange.respond(200)

    async with H2Server(first_says_goaway, max_concurrent_streams=1) as server:
        client = client_for(server)
        try:
            answers = await asyncio.gather(*(client.request(server.url, f"/{n}", HEADERS, b"{}") for n in range(5)))
        finally:
            await client.aclose()
    # Only the first was sent on the first connection; the others waited for a stream and were never sent there.
    assert [a.status for a in answers] == [200] * 5
    assert len(server.connections) == 2


async def test_connection_lost_mid_answer_fails_the_requests_in_flight_and_the_next_one_reconnects() -> None:
    async def drop_after_headers(exchange: Exchange) -> None:
        exchange.send_headers(200)
        await asyncio.sleep(0.05)
        exchange.connection.drop()

    async with H2Server(drop_after_headers) as server:
        client = client_for(server)
        try:
            results = await asyncio.gather(
                *(client.request(server.url, "/x", HEADERS, b"{}") for _ in range(3)), return_exceptions=True
            )
            assert all(isinstance(r, ConnectionClosed) for r in results), results
            server.handler = lambda exchange: exchange.respond(200)
            assert (await client.request(server.url, "/y", HEADERS, b"{}")).status == 200
        finally:
            await client.aclose()
    assert len(server.connections) == 2


async def test_stream_resets() -> None:
    async def reset(exchange: Exchange) -> None:
        code = h2.errors.ErrorCodes.REFUSED_STREAM if exchange.path == "/refused" else h2.errors.ErrorCodes.CANCEL
        exchange.reset(code)

    async with H2Server(reset) as server:
        client = client_for(server)
        try:
            with pytest.raises(StreamRefused):
                await client.request(server.url, "/refused", HEADERS, b"{}")
            with pytest.raises(StreamReset, match="CANCEL"):
                await client.request(server.url, "/other", HEADERS, b"{}")
            server.handler = lambda exchange: exchange.respond(200)
            assert (await client.request(server.url, "/fine", HEADERS, b"{}")).status == 200
        finally:
            await client.aclose()
    assert len(server.connections) == 1  # a reset stream leaves the connection alone


async def test_headers_then_a_stalled_body_end_at_the_deadline_and_the_connection_stays() -> None:
    async def stall(exchange: Exchange) -> None:
        if exchange.path == "/stall":
            exchange.send_headers(500, [("content-type", "application/json")])
            await exchange.send_data(b'{"reason":')
            await asyncio.sleep(3600)
        await exchange.respond(200)

    async with H2Server(stall) as server:
        client = client_for(server, timeout=DEADLINE)
        try:
            started = time.monotonic()
            with pytest.raises(RequestTimeout):
                await client.request(server.url, "/stall", HEADERS, b"{}")
            assert time.monotonic() - started < DEADLINE + SLACK
            await asyncio.sleep(0.1)
            assert server.requests[0].cancelled  # the stream was reset, so the server can stop
            assert (await client.request(server.url, "/fine", HEADERS, b"{}")).status == 200
        finally:
            await client.aclose()
    assert len(server.connections) == 1  # the peer was alive (it sent headers): the connection is kept


async def test_a_stream_a_live_peer_leaves_unanswered_times_out_and_the_connection_stays() -> None:
    async def silent_once(exchange: Exchange) -> None:
        if exchange.path == "/silent":
            await asyncio.sleep(3600)
        await exchange.respond(200)

    async with H2Server(silent_once) as server:
        client = client_for(server, timeout=DEADLINE)
        try:
            with pytest.raises(RequestTimeout):
                await client.request(server.url, "/silent", HEADERS, b"{}")
            await asyncio.sleep(DEADLINE + 0.5)  # the PING sent at the timeout was answered: nothing is dropped
            assert (await client.request(server.url, "/fine", HEADERS, b"{}")).status == 200
        finally:
            await client.aclose()
    assert len(server.connections) == 1


async def test_a_peer_that_stops_reading_is_dropped_after_an_unanswered_ping() -> None:
    async def go_deaf(exchange: Exchange) -> None:
        if exchange.connection is exchange.connection.server.connections[0]:
            assert exchange.connection.transport is not None
            exchange.connection.transport.pause_reading()  # as good as a TCP path dropped without a word
            await asyncio.sleep(3600)
        await exchange.respond(200)

    async with H2Server(go_deaf) as server:
        client = client_for(server, timeout=DEADLINE)
        try:
            with pytest.raises(RequestTimeout):
                await client.request(server.url, "/x", HEADERS, b"{}")
            deadline = time.monotonic() + DEADLINE + SLACK
            while client.connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert client.connections == 0
            assert (await client.request(server.url, "/y", HEADERS, b"{}")).status == 200
        finally:
            await client.aclose()
    assert len(server.connections) == 2


async def test_a_huge_answer_is_cut_at_max_body_with_bounded_memory() -> None:
    async def huge_then_fine(exchange: Exchange) -> None:
        if exchange.path == "/huge":
            await stream_forever(exchange, status=500)
        else:
            await exchange.respond(200)

    async with H2Server(huge_then_fine) as server:
        client = client_for(server, timeout=30)
        try:
            tracemalloc.start()
            started = time.monotonic()
            response = await client.request(server.url, "/huge", HEADERS, b"{}")
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert time.monotonic() - started < 10
            assert (response.status, len(response.body), response.truncated) == (500, 4096, True)
            assert peak < 20 << 20
            # The rest was refused (RST_STREAM) and the connection's window given back: it still carries requests.
            assert (await client.request(server.url, "/fine", HEADERS, b"{}")).status == 200
        finally:
            tracemalloc.stop()
            await client.aclose()
    assert len(server.connections) == 1


async def test_connect_failures_are_connect_errors() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Http2Client(ssl.create_default_context(), timeout=DEADLINE)
    try:
        with pytest.raises(ConnectError):
            await client.request(f"https://127.0.0.1:{port}", "/", HEADERS)
    finally:
        await client.aclose()


async def test_an_untrusted_certificate_is_a_connect_error(server: H2Server) -> None:
    client = Http2Client(ssl.create_default_context(), timeout=DEADLINE)
    try:
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.request(server.url, "/", HEADERS)
    finally:
        await client.aclose()
    assert server.requests == []


async def test_a_server_without_h2_in_alpn_is_a_connect_error() -> None:
    async with H2Server(alpn=("http/1.1",)) as server:
        client = client_for(server, timeout=DEADLINE)
        try:
            with pytest.raises(ConnectError, match="ALPN"):
                await client.request(server.url, "/", HEADERS)
        finally:
            await client.aclose()


async def test_a_server_that_accepts_and_says_nothing_ends_at_the_deadline() -> None:
    async def accept_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    tcp = await asyncio.start_server(accept_only, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    client = Http2Client(ssl.create_default_context(), timeout=DEADLINE)
    try:
        started = time.monotonic()
        with pytest.raises((RequestTimeout, ConnectError)):
            await client.request(f"https://127.0.0.1:{port}", "/", HEADERS)
        assert time.monotonic() - started < DEADLINE + SLACK
    finally:
        await client.aclose()
        tcp.close()


async def test_a_header_value_http2_cannot_carry_is_refused_before_sending(server: H2Server) -> None:
    client = client_for(server)
    try:
        for bad in ("a\r\nb", "a\nb", "a\0b", " padded"):
            with pytest.raises(InvalidRequest, match="apns-collapse-id"):
                await client.request(server.url, "/", [("apns-collapse-id", bad)], b"{}")
    finally:
        await client.aclose()
    assert server.requests == [] and server.connections == []


async def test_close_fails_requests_in_flight_and_refuses_new_ones() -> None:
    async def never(exchange: Exchange) -> None:
        await asyncio.sleep(3600)

    async with H2Server(never) as server:
        client = client_for(server)
        pending = asyncio.ensure_future(client.request(server.url, "/", HEADERS, b"{}"))
        while not server.requests:
            await asyncio.sleep(0.01)
        await client.aclose()
        with pytest.raises(ConnectionClosed):
            await pending
        with pytest.raises(ConnectionClosed):
            await client.request(server.url, "/", HEADERS, b"{}")
        assert client.connections == 0
        await asyncio.wait_for(server.connections[0].lost.wait(), 5)
        assert server.connections[0].goaway_from_client


def test_origins() -> None:
    assert parse_origin("https://api.push.apple.com") == parse_origin("https://api.push.apple.com:443/")
    assert parse_origin("https://api.push.apple.com").authority == b"api.push.apple.com"
    assert parse_origin("https://127.0.0.1:8443/x/").authority == b"127.0.0.1:8443"
    assert parse_origin("https://127.0.0.1:8443/x/").prefix == "/x"
    assert parse_origin("https://[::1]:8443").authority == b"[::1]:8443"
    for bad in ("http://api.push.apple.com", "api.push.apple.com", "https://"):
        with pytest.raises(ValueError):
            parse_origin(bad)
