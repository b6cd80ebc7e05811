"""The deployment files say what the code does: every setting they name exists, the compose file
wires the bot to its database and its secrets, and the image and unit run the bot. (No Docker
engine runs here, so the files are checked, not built.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from solbot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE_SETTINGS = {  # read directly from the environment, on purpose
    "MASTER_ENCRYPTION_KEY",
    "MASTER_ENCRYPTION_KEY_OLD",
    "POSTGRES_PASSWORD",
}


def names_in(path: Path) -> set[str]:
    """Variable names assigned in an env file, commented-out examples included."""
    pattern = re.compile(r"^#?\s*([A-Z][A-Z0-9_]+)=", re.MULTILINE)
    return set(pattern.findall(path.read_text()))


def known_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"SOLBOT_{name.upper()}")
        alias = field.validation_alias
        if alias is not None:
            names.update(str(choice) for choice in getattr(alias, "choices", [alias]))
    return names


def test_every_setting_the_env_files_name_exists() -> None:
    known = known_names() | OUTSIDE_SETTINGS
    for path in (ROOT / ".env.example", ROOT / "deploy" / "solbot.env.example"):
        unknown = names_in(path) - known
        assert not unknown, f"{path.name} names settings solbot does not have: {unknown}"


def test_compose_runs_the_bot_on_postgres_with_secrets_from_the_env_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    bot, db = compose["services"]["bot"], compose["services"]["db"]
    assert bot["build"] == "."
    assert bot["env_file"] == ["solbot.env"]
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql://solbot:")
    assert "@db:5432/solbot" in bot["environment"]["DATABASE_URL"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["command"] == ["run"]
    assert "data:/data" in bot["volumes"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert set(compose["volumes"]) == {"pgdata", "data"}
    assert "solbot.env" in (ROOT / ".gitignore").read_text()


def test_the_image_and_the_unit_run_the_bot_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile
    assert 'ENTRYPOINT ["solbot"]' in dockerfile
    assert 'CMD ["run"]' in dockerfile
    assert "USER solbot" in dockerfile
    assert "MASTER_ENCRYPTION_KEY=" not in dockerfile
    unit = (ROOT / "deploy" / "solbot.service").read_text()
    assert "ExecStart=/var/lib/solbot/venv/bin/solbot run" in unit
    assert "EnvironmentFile=/etc/solbot/solbot.env" in unit
    assert "User=solbot" in unit
    assert "NoNewPrivileges=true" in unit


def test_deployments_install_the_hashed_lock_then_solbot_alone() -> None:
    """The image and the unit's instructions take every dependency from the lock, hashes
    checked, and solbot itself without resolving anything more."""
    for path in (ROOT / "Dockerfile", ROOT / "deploy" / "solbot.service"):
        text = path.read_text()
        assert "--require-hashes" in text, path.name
        assert "requirements/solbot.lock" in text, path.name
        assert "--no-deps" in text, path.name
