"""Stack candidate (c): uvicorn (uvloop, httptools, websockets) + Starlette, ASGI sends.

Every subscriber gets ``await websocket.send_text(text)``: an ASGI ``websocket.send`` message that goes
through Starlette, uvicorn's protocol adapter and the websockets library, which frames it per connection.
"""

from __future__ import annotations

import itertools
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.fanout.common import (
    AppCreds,
    connection_established,
    event_from_trigger_body,
    subscription_succeeded,
    verify_signed,
)
from bench.fanout.stacks._args import parse


def make_app(creds: AppCreds) -> Starlette:
    channels: dict[str, dict[WebSocket, None]] = {}
    ids = itertools.count(1)

    async def ws_endpoint(websocket: WebSocket) -> None:
        if websocket.path_params["key"] != creds.key:
            await websocket.close(code=4001)
            return
        await websocket.accept()
        await websocket.send_text(connection_established(f"{next(ids)}.{id(websocket) % 1000000}").decode())
        mine: list[str] = []
        try:
            while True:
                data = json.loads(await websocket.receive_text())
                event = data.get("event")
                if event == "pusher:subscribe":
                    ch = data["data"]["channel"]
                    channels.setdefault(ch, {})[websocket] = None
                    mine.append(ch)
                    await websocket.send_text(subscription_succeeded(ch).decode())
                elif event == "pusher:ping":
                    await websocket.send_text('{"event":"pusher:pong","data":"{}"}')
        except WebSocketDisconnect:
            pass
        finally:
            for ch in mine:
                channels.get(ch, {}).pop(websocket, None)

    async def trigger(request: Request) -> Response:
        body = await request.body()
        if request.path_params["app_id"] != creds.app_id or not verify_signed(
            "POST", request.url.path, request.url.query, body, creds
        ):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        chans, message = event_from_trigger_body(body)
        text = message.decode()
        for ch in chans:
            for ws in list(channels.get(ch, ())):
                await ws.send_text(text)
        return JSONResponse({})

    async def ready(request: Request) -> Response:
        return PlainTextResponse("OK")

    return Starlette(
        routes=[
            WebSocketRoute("/app/{key}", ws_endpoint),
            Route("/apps/{app_id}/events", trigger, methods=["POST"]),
            Route("/", ready),
            Route("/ready", ready),
        ]
    )


def main() -> None:
    args = parse(__doc__ or "", ws_choices=["websockets", "websockets-sansio", "wsproto"])
    uvicorn.run(
        make_app(args.creds),
        host=args.host,
        port=args.port,
        loop=args.loop,
        http="httptools",
        ws=args.ws,
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
