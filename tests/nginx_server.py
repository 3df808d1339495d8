"""A real nginx running one of the shipped configs from deploy/, on free ports."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from pathlib import Path

from tests.helpers import need
from tests.redis_server import free_port

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


class Nginx:
    """``deploy/<config>`` as shipped, with only its ports changed."""

    def __init__(self, workdir: Path, config: str, upstreams: list[int]) -> None:
        self.binary = need("nginx")
        self.port = free_port()
        self.workdir = workdir
        shipped = (DEPLOY / config).read_text()
        servers = "".join(f"server 127.0.0.1:{p};\n    " for p in upstreams)
        site, count = re.subn(r"(server 127\.0\.0\.1:\d+;\s*)+", servers, shipped)
        assert count == 1, "the shipped upstream block has moved"
        site, count = re.subn(r"listen 80;", f"listen 127.0.0.1:{self.port};", site)
        assert count == 1, "the shipped listen line has moved"
        (workdir / "site.conf").write_text(site)
        temp = workdir / "temp"
        temp.mkdir(exist_ok=True)
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(
            f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {workdir}/site.conf;
}}
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-p",
                str(self.workdir),
                "-c",
                str(self.conf),
                "-e",
                str(self.workdir / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if self.proc.poll() is not None:
                log = (self.workdir / "error.log").read_text()
                raise RuntimeError(f"nginx exited: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("nginx did not start in 5 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
