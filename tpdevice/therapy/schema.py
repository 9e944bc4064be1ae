"""The JSON Schema of a profile file (committed as docs/profile.schema.json)."""

from __future__ import annotations

import json
from typing import Any

from tpdevice.therapy.profile import Profile

__all__ = ["SCHEMA_ID", "profile_json_schema", "profile_schema_text"]

SCHEMA_ID = "https://tpdevice.invalid/profile.schema.json"


def profile_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one profile; cross-field rules are in the description."""
    schema = Profile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "tpdevice therapy profile"
    schema["description"] = (
        "One region's therapy profile (docs/session-engine.md section 1). Beyond this schema: "
        "freq_hz and release_freq_hz are 0 or inside caps.freq_min_hz..freq_max_hz; every "
        "band top after progression <= caps.max_force_n; progression.force_max_n <= "
        "caps.max_force_n; hold_s <= caps.max_hold_s; hold_timer.cap_s in "
        "[hold_s, caps.max_hold_s]; motor-on seconds per side <= caps.max_work_s; the id "
        "equals the file stem."
    )
    return schema


def profile_schema_text() -> str:
    """The schema as stable, pretty JSON ending with a newline."""
    return json.dumps(profile_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
