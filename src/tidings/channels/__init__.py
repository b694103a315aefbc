"""Sans-I/O core of the Pusher Channels protocol (version 7).

No asyncio, no sockets, no framework imports: every function here takes and returns plain values,
so it is tested with plain strings.
"""
