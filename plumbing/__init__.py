"""What both doors need from HTTP and WebSocket, below both of them: the
WebSocket framer (:mod:`plumbing.ws_frames`), the origin rule
(:mod:`plumbing.origin`) and whose ``X-Forwarded-*`` headers to believe
(:mod:`plumbing.proxies`). It imports nothing of ours but :mod:`config`, so
that events/ and web/ never import each other."""
