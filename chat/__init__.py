"""The chat core: rules, presence, ids, history and fan-out.

Nothing here knows about aiohttp or Socket.IO; every front door (Socket.IO,
plain WebSocket, HTTP) is a thin adapter over :class:`ChatService`.
"""
