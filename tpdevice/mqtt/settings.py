"""Where and how to reach the broker: one URL plus TLS files, checked before any connect."""

from __future__ import annotations

import dataclasses
import socket
import ssl
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tpdevice.errors import TpDeviceError

__all__ = ["MqttSettings", "MqttSettingsError"]

_SCHEMES = {"mqtt": 1883, "mqtts": 8883}
_OPTIONS = {"client_id", "protocol", "node", "ca", "cert", "key", "keepalive_s"}


class MqttSettingsError(TpDeviceError):
    """An MQTT URL or option that cannot be used."""


@dataclasses.dataclass(frozen=True, slots=True)
class MqttSettings:
    """A parsed broker URL: mqtt[s]://[user[:password]@]host[:port][?option=value...]."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)  # never logged
    client_id: str = ""
    protocol: int = 5  # 5 or 4 (3.1.1)
    node: str = dataclasses.field(default_factory=socket.gethostname)
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    keepalive_s: int = 30

    @classmethod
    def from_url(cls, url: str) -> MqttSettings:
        """Parse `url`; a bad part raises MqttSettingsError naming it."""
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES:
            raise MqttSettingsError(f"{_safe(url)}: the scheme must be mqtt:// or mqtts://")
        if not parts.hostname:
            raise MqttSettingsError(f"{_safe(url)}: no broker host")
        try:
            port = parts.port or _SCHEMES[parts.scheme]
        except ValueError:
            raise MqttSettingsError(f"{_safe(url)}: the port must be 1..65535") from None
        options = _options(url, parts.query)
        settings = cls(
            host=parts.hostname,
            port=port,
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            **options,  # type: ignore[arg-type]
        )
        settings.tls_context()  # a CA, certificate or key that TLS cannot use fails here, once
        return settings

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context of mqtts:// (None for mqtt://); MqttSettingsError for unusable files."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        except (ssl.SSLError, OSError) as err:
            raise MqttSettingsError(f"{self.safe_url}: ca={self.ca}: {_tls_reason(err)}") from None
        if self.cert is None:
            if self.key is not None:
                raise MqttSettingsError(f"{self.safe_url}: key= needs cert= beside it")
            return context
        try:
            context.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
        except (ssl.SSLError, OSError) as err:
            named = f"cert={self.cert}" + (f", key={self.key}" if self.key else "")
            raise MqttSettingsError(f"{self.safe_url}: {named}: {_tls_reason(err)}") from None
        return context

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def _tls_reason(err: ssl.SSLError | OSError) -> str:
    """What TLS said about a file, in a few words (OpenSSL's reason, not its codes)."""
    reason = getattr(err, "reason", None)
    if isinstance(reason, str):
        return reason.lower().replace("_", " ")
    if "PEM lib" in str(err):  # OpenSSL's words for "no usable certificate or key in the PEM"
        return "no certificate with its private key found in PEM form"
    return err.strerror or str(err)


def _safe(url: str) -> str:
    """`url` with any password masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _options(url: str, query: str) -> dict[str, object]:
    options: dict[str, object] = {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        if name not in _OPTIONS:
            known = ", ".join(sorted(_OPTIONS))
            raise MqttSettingsError(f"{_safe(url)}: unknown option {name!r} (known: {known})")
        options[name] = _option_value(url, name, values[-1])
    return options


def _option_value(url: str, name: str, text: str) -> object:
    if name in {"ca", "cert", "key"}:
        path = Path(text).expanduser()
        if not path.is_file():
            raise MqttSettingsError(f"{_safe(url)}: {name}={text}: no such file")
        return path
    if name == "protocol":
        if text not in {"5", "3.1.1"}:
            raise MqttSettingsError(f"{_safe(url)}: protocol={text}: use 5 or 3.1.1")
        return 5 if text == "5" else 4
    if name == "keepalive_s":
        if not text.isdigit() or not 5 <= int(text) <= 3600:
            raise MqttSettingsError(f"{_safe(url)}: keepalive_s={text}: use 5..3600")
        return int(text)
    if not text or any(ch in text for ch in "+#/"):
        raise MqttSettingsError(f"{_safe(url)}: {name}={text!r}: empty or has + # /")
    return text
