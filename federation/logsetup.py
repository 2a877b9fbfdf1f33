"""Process-wide logging: text or JSON lines, and redaction of secrets before anything is written.

Secrets (AccessKey secrets, bearer tokens, kubeconfig contents) must never reach a log line. Two
guards do that: every value registered with :func:`register_secret` is replaced wherever it
appears, and well-known secret-bearing patterns (``Authorization: Bearer ...``,
``AccessKeySecret=...``, ``token: ...``) are masked even when nobody registered the value.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any

REDACTED = "***"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)((?:access_?key_?secret|secret|token|password|client-key-data|client-certificate-data)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]+"
    ),
]


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked in every log line from now on."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Mask registered secrets and secret-looking patterns in ``text``."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for s in known:
        if s in text:
            text = text.replace(s, REDACTED)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats the record's message once, redacted, so no handler sees the raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not kill logging
            msg = str(record.msg)
        record.msg = redact(msg)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus any ``extra={...}`` fields."""

    _STD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in self._STD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Configure the root logger once for the whole process (idempotent)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_fedctl", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._fedctl = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Client libraries log request bodies at debug level; keep them quiet unless asked.
    for noisy in ("kubernetes_asyncio", "kubernetes", "urllib3", "aiohttp.access", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # The Alibaba SDK logs every error answer at ERROR before the retry layer has decided anything about
    # it; AlibabaClient logs the retries and failures that matter, so the SDK speaks only when debugging.
    logging.getLogger("aliyunsdkcore").setLevel(
        logging.DEBUG if root.level <= logging.DEBUG else logging.CRITICAL
    )
