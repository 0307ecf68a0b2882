"""Weak secrets are refused before anything runs (issue 11, item 5): the demo key, the
shipped placeholders, short or patterned keys and short API tokens in production mode, the
same way in ``vigil run``, ``vigil config check`` and ``vigil replay``; secrets are masked in
what ``config check`` prints; a ``.env`` file is read only when named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from streams.bundled_samples import sample_paths
from streams.cli.main import main
from streams.demo import DEMO_HMAC_KEY
from streams.settings import VigilSettings

EVENTS, CONFIG = sample_paths()
STRONG_KEY = "9c4e1f7a2b8d05e3c6a9f1d4b7e20c5a8f3d6b9e1c4a7f0d"
STRONG_TOKEN = "3b9f1c7e5a2d8f04c6e1a9b7d3f5e2c8"
EXAMPLE_SECRET = Path(__file__).resolve().parents[2] / "deploy/k8s/secret.example.yaml"


def _example_value(name: str) -> str:
    for line in EXAMPLE_SECRET.read_text().splitlines():
        if line.strip().startswith(f"{name}:"):
            return line.split(":", 1)[1].strip().strip('"')
    raise AssertionError(f"{name} not in {EXAMPLE_SECRET}")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("VIGIL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIGIL_LOG_LEVEL", "WARNING")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


WEAK_KEYS = {
    "demo key": DEMO_HMAC_KEY,
    "example Secret placeholder": _example_value("VIGIL_HMAC_KEY"),
    "repeated character": "a" * 40,
    "repeated pattern": "abcd" * 10,
    "short": "a-secret-of-sixteen+",
}


@pytest.mark.parametrize("key", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
@pytest.mark.parametrize("command", ["run", "config-check", "replay"])
def test_production_mode_refuses_weak_keys_in_every_command(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: str,
        command: str, tmp_path: Path) -> None:
    monkeypatch.setenv("VIGIL_HMAC_KEY", key)
    monkeypatch.setenv("VIGIL_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # never reached
    argv = {"run": ["run", "--config", str(CONFIG)],
            "config-check": ["config", "check", "--config", str(CONFIG)],
            "replay": ["replay", str(EVENTS), "--config", str(CONFIG),
                       "--out", str(tmp_path / "out")]}[command]
    code, out, err = _run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "VIGIL_HMAC_KEY" in lines[0]
    assert key not in err and key not in out
    assert not (tmp_path / "out").exists()


def test_short_key_is_refused_alike_by_config_check_and_replay_in_demo_mode(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    # Before: config check passed this key and replay crashed on it with a traceback.
    monkeypatch.setenv("VIGIL_MODE", "demo")
    monkeypatch.setenv("VIGIL_HMAC_KEY", "short-key")
    check = _run(capsys, "config", "check", "--config", str(CONFIG))
    replay = _run(capsys, "replay", str(EVENTS), "--config", str(CONFIG),
                  "--out", str(tmp_path / "out"))
    assert check[0] == replay[0] == 2
    assert check[2].split(": ", 1)[1] == replay[2].split(": ", 1)[1]
    assert "VIGIL_HMAC_KEY is shorter than 16 bytes" in replay[2]


def test_demo_mode_accepts_the_demo_key(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIGIL_MODE", "demo")
    monkeypatch.setenv("VIGIL_HMAC_KEY", DEMO_HMAC_KEY)
    code, out, _ = _run(capsys, "config", "check", "--config", str(CONFIG))
    assert code == 0 and json.loads(out)["settings"]["mode"] == "demo"


@pytest.mark.parametrize("tokens", [
    "t1:operator:Dr A",
    f"{'0123456789abcdef'[:15]}:auditor:cqc",  # 15 hex characters: 60 bits
    _example_value("VIGIL_API_TOKENS"),
])
def test_production_mode_refuses_tokens_below_128_bits(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tokens: str) -> None:
    monkeypatch.setenv("VIGIL_HMAC_KEY", STRONG_KEY)
    monkeypatch.setenv("VIGIL_API_TOKENS", tokens)
    code, _, err = _run(capsys, "config", "check", "--config", str(CONFIG))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "VIGIL_API_TOKENS" in err
    assert tokens.split(":")[0] not in err


def test_production_mode_refuses_the_compose_default_database_password(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIGIL_HMAC_KEY", STRONG_KEY)
    monkeypatch.setenv("VIGIL_ESCALATION_LOG", "postgresql://vigil:vigil@postgres:5432/vigil")
    code, _, err = _run(capsys, "config", "check", "--config", str(CONFIG))
    assert code == 2 and "VIGIL_ESCALATION_LOG" in err


def test_config_check_masks_every_secret(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    password = "Xq7-database-password-9Lm"
    monkeypatch.setenv("VIGIL_HMAC_KEY", STRONG_KEY)
    monkeypatch.setenv("VIGIL_API_TOKENS", f"{STRONG_TOKEN}:operator:audit-team")
    monkeypatch.setenv("VIGIL_ESCALATION_LOG", f"postgresql://vigil:{password}@db:5432/vigil")
    monkeypatch.setenv("VIGIL_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("VIGIL_SASL_USERNAME", "vigil")
    monkeypatch.setenv("VIGIL_SASL_PASSWORD", "sasl-secret-value")
    code, out, err = _run(capsys, "config", "check", "--config", str(CONFIG))
    assert code == 0
    for secret in (STRONG_KEY, STRONG_TOKEN, password, "sasl-secret-value"):
        assert secret not in out and secret not in err
    settings = json.loads(out)["settings"]
    assert settings["escalation_log"] == "postgresql://vigil:***@db:5432/vigil"


def test_a_strong_key_passes(monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VIGIL_HMAC_KEY", STRONG_KEY)
    monkeypatch.setenv("VIGIL_API_TOKENS", f"{STRONG_TOKEN}:operator:audit-team")
    code, _, err = _run(capsys, "config", "check", "--config", str(CONFIG))
    assert code == 0, err


# -- .env only when named -------------------------------------------------------------------

def test_a_dotenv_in_the_working_directory_is_ignored(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_HMAC_KEY", STRONG_KEY)
    (tmp_path / ".env").write_text(f"VIGIL_API_TOKENS={STRONG_TOKEN}:operator:intruder\n"
                                   "VIGIL_HMAC_KEY=attacker-chosen-key-0123456789abcdef\n"
                                   "VIGIL_MODE=demo\n")
    settings = VigilSettings()
    assert settings.api_tokens is None and settings.mode == "production"
    assert settings.hmac_key is not None and settings.hmac_key.get_secret_value() == STRONG_KEY


def test_a_dotenv_named_by_vigil_env_file_is_read(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "vigil.env"
    env_file.write_text(f"VIGIL_API_TOKENS={STRONG_TOKEN}:operator:audit-team\n"
                        f"VIGIL_HMAC_KEY={STRONG_KEY}\n")
    monkeypatch.setenv("VIGIL_ENV_FILE", str(env_file))
    monkeypatch.setenv("VIGIL_HMAC_KEY", STRONG_KEY[::-1])  # the environment wins
    settings = VigilSettings()
    assert settings.api_principals() == {STRONG_TOKEN: ("operator", "audit-team")}
    assert settings.hmac_key is not None
    assert settings.hmac_key.get_secret_value() == STRONG_KEY[::-1]


def test_a_missing_named_env_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Through load_settings (what commands start with): a named file that is not there is
    # a mistake to report, not a reason to run without it.
    from streams.settings_loading import load_settings

    monkeypatch.setenv("VIGIL_ENV_FILE", str(tmp_path / "nope.env"))
    assert load_settings() is None
    assert "VIGIL_ENV_FILE" in capsys.readouterr().err
