"""A real nginx running one of the shipped configs from deploy/, on free ports."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import Daemon, free_port, need

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


class Nginx(Daemon):
    """``deploy/<config>`` as shipped, with only its ports changed."""

    def __init__(self, workdir: Path, config: str, upstreams: list[int]) -> None:
        super().__init__(free_port())
        self.binary = need("nginx")
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        log = self.workdir / "error.log"
        argv = [
            self.binary,
            "-p",
            str(self.workdir),
            "-c",
            str(self.conf),
            "-e",
            str(log),
        ]
        try:
            await self.launch(argv, "nginx")
        except RuntimeError as exc:
            raise RuntimeError(
                f"{exc}: {log.read_text() if log.exists() else ''}"
            ) from None
