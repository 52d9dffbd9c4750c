"""Settings: defaults, then a TOML file, then `TINYREG_*` environment variables, then flags."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "TINYREG_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Everything `tinyreg serve` can be told."""

    host: str = "127.0.0.1"
    port: int = 5000
    data: Path = Path("tinyreg-data")
    log_level: str = "info"
    access_log: bool = True
    upload_ttl: float = 3600.0
    """Seconds an upload may sit idle before it is cancelled and its bytes removed."""
    sweep_interval: float = 60.0
    """Seconds between two sweeps for expired uploads."""
    send_timeout: float = 60.0
    """Seconds within which a client must take each 64 KiB of a response, or be disconnected."""
    workers: str = "1"
    """Processes serving the data directory together: a number, or `auto` for one per core."""
    auth: bool = False
    """Users, projects and tokens decide who may do what; without it the registry is open."""
    insecure_open: bool = False
    """Allow an open registry (no --auth) to listen on an address other than loopback."""
    token_ttl: float = 300.0
    """Seconds a registry token stays valid."""
    realm: str = ""
    """Token endpoint URL announced to clients; empty means `<scheme>://<Host header>/token`."""
    service: str = "tinyreg"
    """The `service` (token audience) name."""


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (`127.0.0.0/8`, `::1`, bracketed or not) or `localhost`.

    Any other name is not: it resolves to whatever its DNS says (`127.0.0.1.nip.io` need not).
    """
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_exposure(settings: Settings) -> None:
    """Refuse an open registry on a non-loopback address unless explicitly allowed."""
    if not settings.auth and not settings.insecure_open and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to serve without --auth on {settings.host}: anyone who can reach it could push and delete. "
            "Use --auth, or --insecure-open if that is really what you want."
        )


class ConfigError(ValueError):
    """A setting that cannot be used, with a message for the person who wrote it."""


def _convert(name: str, kind: Any, value: Any, origin: str) -> Any:
    try:
        if kind in (bool, "bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError(value)
        if kind in (int, "int"):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind in (float, "float"):
            return float(value)
        if kind in (Path, "Path"):
            return Path(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: {name} cannot be {value!r}") from None


def _apply(settings: Settings, values: Mapping[str, Any], origin: str) -> Settings:
    kinds = {f.name: f.type for f in fields(Settings)}
    changes = {}
    for name, value in values.items():
        if value is None:
            continue
        key = name.replace("-", "_")
        if key not in kinds:
            raise ConfigError(f"{origin}: unknown setting {name!r}")
        changes[key] = _convert(key, kinds[key], value, origin)
    return replace(settings, **changes)


LOG_LEVELS = ("debug", "info", "warning", "error")


def validate(settings: Settings) -> Settings:
    """Check values that parse but cannot be used; ConfigError names the setting."""
    if not 0 <= settings.port <= 65535:
        raise ConfigError(f"port must be between 0 and 65535, not {settings.port}")
    if settings.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {settings.log_level!r}")
    for name in ("upload_ttl", "sweep_interval", "token_ttl", "send_timeout"):
        if not getattr(settings, name) > 0:
            raise ConfigError(f"{name} must be a positive number of seconds, not {getattr(settings, name)}")
    if not settings.host:
        raise ConfigError("host cannot be empty")
    return replace(settings, log_level=settings.log_level.lower())


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    names = {f.name for f in fields(Settings)}
    found = {}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in names:
            found[key[len(ENV_PREFIX) :].lower()] = value
    return found


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Combine the sources; later ones win: defaults < file < environment < flags."""
    env = os.environ if env is None else env
    settings = Settings()
    config_file = config_file or (Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None)
    if config_file is not None:
        try:
            with open(config_file, "rb") as file:
                settings = _apply(settings, tomllib.load(file), str(config_file))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file} is not valid TOML: {exc}") from None
    settings = _apply(settings, _from_env(env), "environment")
    return validate(_apply(settings, flags or {}, "command line"))
