"""The other front doors (plain WebSocket, HTTP API) and the pages."""
