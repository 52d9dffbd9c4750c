"""Settings: defaults, then a TOML file, then `TINYREG_*` environment variables, then flags."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from tinyreg.durations import SYNTAX, parse_duration
from tinyreg.registry.mirrors import Mirror, MirrorConfigError, merge_mirrors, mirrors_from_toml, parse_mirror_flag
from tinyreg.registry.notification_settings import NotificationSettings, NotificationSettingsError, parse_notifications
from tinyreg.registry.usage import parse_size
from tinyreg.storage.s3.location import S3Options

ENV_PREFIX = "TINYREG_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Everything `tinyreg serve` can be told."""

    host: str = "127.0.0.1"
    port: int = 5000
    data: Path = Path("tinyreg-data")
    metadata: str = ""
    """Where the metadata lives: empty for LMDB in the data directory, or `postgresql://user@host:port/db`
    (blobs stay files of the data directory either way)."""
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
    keys_dir: str = ""
    """The token signing keys' directory (empty: `keys` in the data directory). Nodes that serve one
    registry from several machines share it, as they share a TLS certificate."""
    realm: str = ""
    """Token endpoint URL announced to clients; empty means `<scheme>://<Host header>/token`."""
    service: str = "tinyreg"
    """The `service` (token audience) name."""
    external_url: str = ""
    """The registry's public address (`https://registry.example.com`) used in the page's instructions
    and the API's image prefixes; empty means the address each request came to."""
    tls: str = ""
    """`self-signed`: serve HTTPS with a CA and certificate made (once) in the data directory."""
    tls_cert: str = ""
    """Certificate chain (PEM) to serve HTTPS with; reloaded when the file changes."""
    tls_key: str = ""
    """The certificate's private key (PEM)."""
    tls_reload_interval: float = 60.0
    """Seconds between two looks at the certificate files for a renewal."""
    insecure_http: bool = False
    """Allow --auth over plain HTTP on an address other than loopback (passwords and tokens in clear)."""
    log_format: str = "text"
    """`text` lines, or `json`: one object per line (time, level, logger, message; the access log adds its fields)."""
    min_free_disk_mib: int = 512
    """/readyz answers 503 when less than this many MiB are free where blobs are stored."""
    gc_interval: float = 3600.0
    """Seconds between two garbage collections inside the server; 0 or `off`: only `tinyreg gc`."""
    gc_grace: float = 3600.0
    """Blob files and links younger than this survive a collection (pushes in flight upload layers first)."""
    cleanup_interval: float = 60.0
    """Seconds between two looks for due cleanup policies."""
    cleanup_batch: int = 1000
    """Tags the cleanup scheduler removes at most per look; a larger backlog continues at the next."""
    cleanup_cadence_seconds: float = 0.0
    """For tests and trials: treat every cleanup cadence as this many seconds (0: the real cadences)."""
    metrics: str = "loopback"
    """Who may read /metrics: open, loopback (clients on this machine), token:<secret>, admin (needs --auth) or off."""
    default_size_limit: str = "none"
    """The size limit of a project without its own (`10GB`, `5GiB`, `none`): pushes beyond it are refused."""
    notifications: NotificationSettings = NotificationSettings()
    """Where events of pushes, pulls, deletes and mounts are delivered: only from the TOML file's
    `[notifications]` table (`[[notifications.endpoints]]`, as CNCF Distribution names them)."""
    blobs: str = ""
    """Where blob bytes live: empty for the data directory, or `s3://bucket/prefix` (the metadata stays in the data directory)."""
    blobs_redirect: bool = True
    """GETs of blobs kept in S3 answer 307 to a short-lived presigned URL; off: the registry streams them."""
    s3_endpoint: str = ""
    """The S3 service's URL (`[s3] endpoint` in TOML); empty: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS itself."""
    s3_region: str = ""
    """The S3 region (`[s3] region`); empty: AWS_REGION or AWS_DEFAULT_REGION."""
    s3_path_style: str = "auto"
    """`true`: `endpoint/bucket/key` addresses; `false`: `bucket.endpoint/key`; `auto`: path style when the endpoint is an IP address."""
    s3_access_key: str = ""
    """The S3 access key (`[s3] access_key`); empty: AWS_ACCESS_KEY_ID or boto3's credential chain."""
    s3_secret_key: str = ""
    """The S3 secret key (`[s3] secret_key`); empty: AWS_SECRET_ACCESS_KEY."""
    mirrors: tuple[Mirror, ...] = ()
    """Upstream registries cached by name (`[mirrors.NAME]` tables, `--mirror NAME=URL`): see registry/mirrors.py."""
    dependency_proxy_upstream: str = ""
    """The mirror GitLab's Dependency Proxy paths pull from (`[dependency_proxy] upstream`); empty: Docker Hub's."""
    move_alias_days: int = 30
    """Days the old path of a moved project or repository keeps answering pulls (read-only); 0: no alias."""

    @property
    def serves_tls(self) -> bool:
        return bool(self.tls or self.tls_cert)

    def size_limit_bytes(self) -> int | None:
        """`default_size_limit` in bytes (None: no limit)."""
        return parse_size(self.default_size_limit)


def s3_options(settings: Settings) -> S3Options:
    """How to reach S3 for `--blobs s3://...`, as the settings say (empty ones fall back to AWS_* variables)."""
    return S3Options(
        endpoint=settings.s3_endpoint,
        region=settings.s3_region,
        path_style=settings.s3_path_style,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
    )


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
    """Refuse an open registry, or logins over plain HTTP, on a non-loopback address unless explicitly allowed."""
    if not settings.auth and not settings.insecure_open and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to serve without --auth on {settings.host}: anyone who can reach it could push and delete. "
            "Use --auth, or --insecure-open if that is really what you want."
        )
    if settings.auth and not settings.serves_tls and not settings.insecure_http and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to serve --auth over plain HTTP on {settings.host}: passwords and tokens would cross the network "
            "in clear. Use --tls-cert/--tls-key or --tls self-signed, or --insecure-http behind a TLS proxy."
        )


def exposure_warning(settings: Settings) -> str | None:
    """What to warn about at start when logins travel over plain HTTP beyond this machine."""
    if settings.auth and not settings.serves_tls and not is_loopback(settings.host):
        return f"--insecure-http: passwords and tokens cross the network in clear on {settings.host} (plain HTTP)"
    return None


class ConfigError(ValueError):
    """A setting that cannot be used, with a message for the person who wrote it."""


def _kind(kind: Any) -> str:
    """The name of a Settings field's type (annotations are strings under `from __future__`)."""
    return kind if isinstance(kind, str) else kind.__name__


# Every float setting is a length of time: the same duration syntax everywhere (see durations.py).
_EXPECTED = {"int": "an integer", "bool": "true or false", "float": f"a duration ({SYNTAX})", "Path": "a path", "str": "a string"}


#: Durations that may be zero (`off` too): the feature they time is then off, or has no margin.
_ZERO_ALLOWED = {"gc_interval", "gc_grace", "cleanup_cadence_seconds"}


def _duration(name: str, text: str) -> float:
    if name in _ZERO_ALLOWED and text.strip().lower() == "off":
        return 0.0
    return parse_duration(text)


def _convert(name: str, kind: Any, value: Any, origin: str) -> Any:
    """A flag's value (already typed by argparse, or given by a caller) as the setting's type."""
    try:
        kind = _kind(kind)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return _duration(name, value) if isinstance(value, str) else float(value)
        if kind == "Path":
            return Path(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: {name} cannot be {value!r}: expected {_EXPECTED[_kind(kind)]}") from None


def _convert_env(name: str, kind: Any, text: str) -> Any:
    """An environment variable's text as the setting's type; the error names the variable and what it accepts."""
    kind = _kind(kind)
    variable = ENV_PREFIX + name.upper()
    accepted = "one of " + ", ".join(sorted(_TRUE | _FALSE - {""})) if kind == "bool" else _EXPECTED[kind]
    try:
        if kind == "bool":
            if text.strip().lower() not in _TRUE | _FALSE:
                raise ValueError(text)
            return text.strip().lower() in _TRUE
        if kind == "int":
            return int(text)
        if kind == "float":
            return _duration(name, text)
        return Path(text) if kind == "Path" else text
    except ValueError:
        raise ConfigError(f"{variable}={text!r} cannot be used: {name} takes {accepted}") from None


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _convert_toml(name: str, kind: Any, value: Any, file: str) -> Any:
    """A TOML value as the setting's type: TOML values are typed, so a value of another type is refused."""
    kind = _kind(kind)
    wrong = ConfigError(f"{file}: {name} must be {_EXPECTED[kind]}, not {_toml_type(value)} ({value!r})")
    if kind == "bool":
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if kind == "float":
        if isinstance(value, str):
            try:
                return _duration(name, value)
            except ValueError:
                raise wrong from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return float(value)
    if name == "workers" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a number, or `auto`
    if not isinstance(value, str):
        raise wrong
    return Path(value) if kind == "Path" else value


def _apply(settings: Settings, values: Mapping[str, Any], origin: str, convert: Callable[..., Any] | None = None) -> Settings:
    kinds = {f.name: f.type for f in fields(Settings)}
    changes = {}
    for name, value in values.items():
        if value is None:
            continue
        key = name.replace("-", "_")
        if key == "notifications":
            raise ConfigError(f"{origin}: notifications are set in the TOML file only ([[notifications.endpoints]])")
        if key not in kinds:
            raise ConfigError(f"{origin}: unknown setting {name!r}")
        changes[key] = (convert or _convert)(key, kinds[key], value, origin)
        problem = _problem(key, changes[key])
        if problem is not None:
            where = f"{ENV_PREFIX}{key.upper()}={value!r} cannot be used: " if origin == "environment" else f"{origin}: "
            raise ConfigError(f"{where}{key} {problem}, not {value!r}")
    return replace(settings, **changes)


LOG_LEVELS = ("debug", "info", "warning", "error")


def _problem(name: str, value: Any) -> str | None:
    """Why a value of the right type still cannot be used, or None."""
    if name == "port" and not 0 <= value <= 65535:
        return "must be between 0 and 65535"
    if name == "log_level" and value.lower() not in LOG_LEVELS:
        return f"must be one of {', '.join(LOG_LEVELS)}"
    if isinstance(value, float) and not value > 0 and not (name in _ZERO_ALLOWED and value == 0):
        return "must be a positive duration"
    if name == "cleanup_batch" and value < 1:
        return "must be at least 1"
    if name == "metadata" and value and not value.startswith(("postgresql://", "postgres://")):
        return "must be a postgresql:// URL (or empty: LMDB in the data directory)"
    if name == "host" and not value:
        return "cannot be empty"
    if name == "log_format" and value not in ("text", "json"):
        return "must be text or json"
    if name == "move_alias_days" and value < 0:
        return "cannot be negative (0 keeps no alias)"
    if name == "min_free_disk_mib" and value < 0:
        return "cannot be negative"
    if name == "metrics" and value not in ("open", "loopback", "admin", "off") and not value.startswith("token:"):
        return "must be open, loopback, token:<secret>, admin or off"
    if name == "metrics" and value == "token:":
        return "needs a secret after token:"
    if name == "tls" and value not in ("", "self-signed"):
        return "must be self-signed (or empty, with tls_cert and tls_key)"
    if name == "blobs" and value and not (value.startswith("s3://") and len(value) > len("s3://")):
        return "must be s3://bucket/prefix (or empty: blobs in the data directory)"
    if name == "s3_path_style" and value not in ("auto", "true", "false"):
        return "must be auto, true or false"
    if name == "default_size_limit":
        try:
            parse_size(value)
        except ValueError as exc:
            return f"must be {str(exc).split('expected ', 1)[1]}"
    return None


def validate(settings: Settings) -> Settings:
    """Check values that parse but cannot be used; ConfigError names the setting."""
    for field in fields(Settings):
        value = getattr(settings, field.name)
        problem = _problem(field.name, value)
        if problem is not None:
            raise ConfigError(f"{field.name} {problem}, not {value!r}")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError("tls_cert and tls_key go together: give both files, or neither")
    if settings.metrics == "admin" and not settings.auth:
        raise ConfigError("metrics = admin needs --auth: without users there is no admin to let in")
    if settings.tls and settings.tls_cert:
        raise ConfigError("tls = self-signed makes its own certificate: leave tls_cert and tls_key out")
    return replace(settings, log_level=settings.log_level.lower())


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    names = {f.name for f in fields(Settings)} - {"notifications", "mirrors"}  # from the file (and flags for mirrors) only
    found = {}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in names:
            found[key[len(ENV_PREFIX) :].lower()] = value
    return found


#: TOML tables whose keys are settings with the table's name in front: `[s3] endpoint` is `s3_endpoint`.
_TABLES = ("s3",)


def _flatten_tables(values: dict[str, Any]) -> dict[str, Any]:
    flat = dict(values)
    for table in _TABLES:
        inner = flat.get(table)
        if isinstance(inner, dict):
            del flat[table]
            flat.update({f"{table}_{key}": value for key, value in inner.items()})
    return flat


def _take_mirrors(values: dict[str, Any], origin: str) -> dict[str, Any]:
    """The mirror settings of a TOML file (`[mirrors.NAME]` or `[[mirrors]]`, `[dependency_proxy]`)
    or of the flags (`--mirror NAME=URL`, repeatable), converted; removed from `values`."""
    found: dict[str, Any] = {}
    try:
        if values.get("mirrors") is not None:
            found["mirrors"] = mirrors_from_toml(values.pop("mirrors"))
        if values.get("mirror"):
            found["mirrors"] = tuple(parse_mirror_flag(text) for text in values.pop("mirror"))
        values.pop("mirror", None)
        proxy = values.pop("dependency_proxy", None)
        if proxy is not None:
            if not isinstance(proxy, dict) or set(proxy) - {"upstream"} or not isinstance(proxy.get("upstream", ""), str):
                raise MirrorConfigError('[dependency_proxy] takes upstream = "<mirror name>" only')
            found["dependency_proxy_upstream"] = proxy.get("upstream", "")
    except MirrorConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    return found


def _with_mirrors(settings: Settings, found: dict[str, Any]) -> Settings:
    mirrors = merge_mirrors(settings.mirrors, found.pop("mirrors", ()))
    settings = replace(settings, mirrors=mirrors, **found)
    upstream = settings.dependency_proxy_upstream
    if upstream and upstream not in {mirror.name for mirror in mirrors}:
        raise ConfigError(f"dependency_proxy upstream {upstream!r} names no mirror")
    return settings


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
                table = tomllib.load(file)
            if "notifications" in table:
                settings = replace(settings, notifications=parse_notifications(table.pop("notifications"), str(config_file)))
            file_mirrors = _take_mirrors(table, str(config_file))
            settings = _apply(settings, _flatten_tables(table), str(config_file), _convert_toml)
            settings = replace(settings, **file_mirrors)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file} is not valid TOML: {exc}") from None
        except NotificationSettingsError as exc:
            raise ConfigError(str(exc)) from None
    settings = _apply(settings, _from_env(env), "environment", lambda name, kind, value, _: _convert_env(name, kind, value))
    flags = dict(flags or {})
    flag_mirrors = _take_mirrors(flags, "command line")
    return validate(_with_mirrors(_apply(settings, flags, "command line"), flag_mirrors))
