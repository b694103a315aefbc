"""Beams routes: publish, customer, device and reporting APIs, all on the server's one port."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from tidings.web.beams import devices, outbox, publish, status

BEAMS_PREFIXES = ("/publish_api/", "/customer_api/", "/user_api/", "/device_api/", "/instances/", "/reporting_api/",
                  "/outbox_api/")
# Browser SDK and service worker call these cross-origin (no cookies): any origin may.
CORS_PREFIXES = ("/device_api/", "/instances/", "/reporting_api/")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Pusher-Library",
    "Access-Control-Max-Age": "86400",
}


def is_beams_path(path: str) -> bool:
    return path.startswith(BEAMS_PREFIXES)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(CORS_PREFIXES):
        return await handler(request)
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=CORS_HEADERS)
    response = await handler(request)
    response.headers.update(CORS_HEADERS)
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    pub = "/publish_api/v1/instances/{instance_id}"
    router.add_post(f"{pub}/publishes", publish.publish_interests, name="beams.publish_legacy")
    router.add_post(f"{pub}/publishes/interests", publish.publish_interests, name="beams.publish_interests")
    router.add_post(f"{pub}/publishes/users", publish.publish_users, name="beams.publish_users")
    router.add_get(f"{pub}/publishes/{{publish_id}}", status.get_publish_status, name="beams.publish_status")
    for api in ("customer_api", "user_api"):
        router.add_delete(f"/{api}/v1/instances/{{instance_id}}/users/{{user_id:.+}}", publish.delete_user,
                          name=f"beams.{api}.delete_user")
    router.add_get("/outbox_api/v1/instances/{instance_id}/notifications", outbox.list_notifications,
                   name="beams.outbox")
    router.add_post("/reporting_api/v2/instances/{instance_id}/events", devices.report_event, name="beams.report")
    # The device API with its /device_api/v1 prefix, and without it (Android's override style).
    for base, tag in (("/device_api/v1/instances/{instance_id}", "v1"), ("/instances/{instance_id}", "bare")):
        dev = f"{base}/devices/{{platform}}/{{device_id}}"
        routes = [
            ("GET", f"{base}/web-vapid-public-key", devices.vapid_public_key, "vapid"),
            ("POST", f"{base}/devices/{{platform}}", devices.register, "register"),
            ("GET", dev, devices.get_device, "get"),
            ("DELETE", dev, devices.delete_device, "delete"),
            ("PUT", f"{dev}/token", devices.set_fcm_token, "token"),
            ("PUT", f"{dev}/metadata", devices.set_metadata, "metadata"),
            ("PUT", f"{dev}/user", devices.set_user, "user"),
            ("POST", f"{dev}/interests/{{interest}}", devices.add_interest, "add_interest"),
            ("DELETE", f"{dev}/interests/{{interest}}", devices.remove_interest, "remove_interest"),
            ("PUT", f"{dev}/interests", devices.set_interests, "set_interests"),
            ("GET", f"{dev}/interests", devices.list_interests, "list_interests"),
        ]
        for method, path, handler, name in routes:
            router.add_route(method, path, handler, name=f"beams.device.{tag}.{name}")
