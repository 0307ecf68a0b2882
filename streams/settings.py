"""Runtime settings, from the environment (prefix ``VIGIL_``) or a ``.env`` file."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.pseudonym import Pseudonymiser


class VigilSettings(BaseSettings):
    """Settings shared by every ``vigil`` command.

    >>> VigilSettings(hmac_key="a-secret-of-sixteen+").pseudonymiser() is not None
    True
    """

    model_config = SettingsConfigDict(env_prefix="VIGIL_", env_file=".env", extra="ignore")

    hmac_key: SecretStr | None = None
    """Key for pseudonymising NHS numbers (at least 16 bytes). Keep it secret."""
    log_level: str = "INFO"

    def pseudonymiser(self) -> Pseudonymiser | None:
        """The configured pseudonymiser, or None when no key is set."""
        if self.hmac_key is None:
            return None
        return Pseudonymiser(self.hmac_key.get_secret_value().encode())
