"""docs/configuration.md, generated from the settings schema so the two cannot drift apart."""

from __future__ import annotations

from pydantic import SecretStr

from tidings.config import Settings


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "Generated from `tidings.config.Settings` by `tidings config-docs`; a test checks it is current.",
        "",
        "Every setting can be given, highest priority first, as a CLI flag of `tidings serve` (where one exists),",
        "an environment variable `TIDINGS_<NAME>`, or a key in a TOML file passed with `--config FILE`",
        "(or `TIDINGS_CONFIG=FILE`).",
        "",
        "| setting | environment | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "" if default is None else ("(secret)" if isinstance(default, SecretStr) else str(default))
        desc = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | `TIDINGS_{name.upper()}` | `{shown}` | {desc} |")
    lines += [
        "",
        "Per-app settings (enabled, client events, user authentication, subscription counts, limits) live in the",
        "database and are managed with `tidings apps create|update|show|list|enable|disable`; see docs/apps.md.",
        "",
    ]
    return "\n".join(lines)
