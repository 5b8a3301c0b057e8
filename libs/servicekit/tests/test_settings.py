import pytest

from servicekit.settings import ServiceSettings, load_settings, service_config


class _Settings(ServiceSettings):
    model_config = service_config("KITTEST_")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_env_accepts_dev_and_prod(monkeypatch, env):
    monkeypatch.setenv("KITTEST_ENV", env)
    monkeypatch.setenv("KITTEST_DATABASE_URL", "postgresql+asyncpg://db/portal")
    assert load_settings(_Settings).env == env


@pytest.mark.parametrize("env", ["production", "PROD", "staging", ""])
def test_env_refuses_anything_else_saying_what_it_accepts(monkeypatch, env):
    monkeypatch.setenv("KITTEST_ENV", env)
    monkeypatch.setenv("KITTEST_DATABASE_URL", "sqlite+aiosqlite:///x.db")
    with pytest.raises(SystemExit) as err:
        load_settings(_Settings)
    assert "KITTEST_ENV" in str(err.value) and "'dev' or 'prod'" in str(err.value)


def test_env_defaults_to_dev(monkeypatch):
    monkeypatch.delenv("KITTEST_ENV", raising=False)
    monkeypatch.setenv("KITTEST_DATABASE_URL", "sqlite+aiosqlite:///x.db")
    assert load_settings(_Settings).env == "dev"
