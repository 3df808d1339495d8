from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from config import Config, load_config, options


def test_defaults() -> None:
    config = load_config([], env={})
    assert config == Config()
    assert (config.host, config.port) == ("127.0.0.1", 3000)


def test_environment_then_flags() -> None:
    env = {"CHAT_PORT": "4000", "CHAT_HOST": "0.0.0.0", "CHAT_HISTORY": "10"}
    config = load_config([], env=env)
    assert (config.port, config.host, config.history) == (4000, "0.0.0.0", 10)
    config = load_config(["--port", "5000"], env=env)
    assert (config.port, config.host) == (5000, "0.0.0.0")


def test_bad_values_exit_with_a_message(capsys) -> None:
    with pytest.raises(SystemExit):
        load_config([], env={"CHAT_PORT": "many"})
    with pytest.raises(SystemExit):
        load_config(["--port", "70000"], env={})
    assert "--port must be 0..65535" in capsys.readouterr().err


def test_help_documents_every_option(capsys) -> None:
    with pytest.raises(SystemExit):
        load_config(["--help"], env={})
    out = capsys.readouterr().out
    for field in dataclasses.fields(Config):
        assert "--" + field.name.replace("_", "-") in out
        assert "CHAT_" + field.name.upper() in out


def test_readme_table_lists_every_option() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for flag, var, _default, _help in options():
        assert f"`{flag}`" in readme and f"`{var}`" in readme, flag


def test_cors_origins() -> None:
    assert Config().cors_allowed == "*"
    assert Config(cors_origins="https://a.example, https://b.example").cors_allowed == [
        "https://a.example",
        "https://b.example",
    ]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--rate-burst", "0"], "--rate-burst must be at least 1"),
        (["--max-group", "0"], "--max-group must be at least 1"),
        (["--shutdown-grace", "-1"], "--shutdown-grace must not be negative"),
        (["--db", "redis://localhost"], "--db 'redis://localhost' is unsupported"),
    ],
)
def test_bounds_are_told(capsys, argv: list[str], says: str) -> None:
    with pytest.raises(SystemExit):
        load_config(argv, env={})
    assert says in capsys.readouterr().err


def test_admin_options() -> None:
    assert Config().admin_password == "" and Config().admin_user == "admin"
    env = {"CHAT_ADMIN_PASSWORD": "pw", "CHAT_ADMIN_READ_ONLY": "1"}
    assert load_config([], env=env).admin_read_only is True
    env["CHAT_ADMIN_READ_ONLY"] = "false"  # bool("false") would be True
    assert load_config([], env=env).admin_read_only is False
    assert load_config(["--admin-read-only"], env=env).admin_read_only is True
    with pytest.raises(SystemExit):
        load_config(["--admin-read-only"], env={})  # needs a password
    with pytest.raises(SystemExit):
        load_config([], env={"CHAT_ADMIN_READ_ONLY": "maybe"})
