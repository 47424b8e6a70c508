"""``POST /shoal/control``: shoal's own commands' door into the same control API
the Engine API's routes use (see real/control.py for the message format)."""

from __future__ import annotations

from aiohttp import web

from core.manager.requests import ClientReply
from core.messages import MessageDecodeError
from real.control import CONTENT_TYPE, CONTROL_PATH, INFO, decode_request, encode_reply
from real.engine.app import Call, Routes
from real.engine.errors import bad_request

routes = Routes()


@routes.post(CONTROL_PATH)
async def control(call: Call) -> web.StreamResponse:
    try:
        request = decode_request(await call.request.read())
    except (MessageDecodeError, ValueError, TypeError, KeyError) as error:
        raise bad_request(f"not a shoal control request: {error}") from None
    if request.method == INFO:
        reply = ClientReply(request.id, True, dict(call.backend.info()))
    else:
        answered = await call.backend.call(request.method, dict(request.params))
        reply = ClientReply(request.id, answered.ok, answered.value, answered.error, answered.code)
    return web.Response(body=encode_reply(reply), content_type=CONTENT_TYPE)
