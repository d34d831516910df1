"""The canonical form of docs/api.md ("Hash chain"), byte for byte, and the hash over it."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.canonical import ChainHasher, canonical_document, canonical_json, lock_key, reference_canonical_json
from app.audit.chain import ChainKeyError, load_chain_key
from app.lib.settings import Settings

ROW: dict[str, Any] = {
    "event_id": UUID("0B7C3C1E-4F5A-4D2B-9C8E-1A2B3C4D5E6F"),
    "event_date": "ignored",
    "event_timestamp": datetime(2026, 12, 4, 22, 30, 5, 120000, tzinfo=timezone(timedelta(hours=1))),
    "version": "1.0",
    "event_type": "gateway.signal.received",
    "event_category": "gateway",
    "event_action": "received",
    "event_outcome": "success",
    "correlation_id": "rr-1",
    "event_data": {"z": 1e20, "a": [0.1, 3.0, -0.0, 1e-7], "é": "line\nbreak", "n": None},
    "duration_ms": -1,
    "event_hash": "ignored",
    "previous_event_hash": "ignored",
}
EXPECTED = (
    '{"actor_id":null,"actor_type":null,"cluster_name":null,"correlation_id":"rr-1","duration_ms":-1,'
    '"event_action":"received","event_category":"gateway","event_data":{"a":[0.1,3,0,1e-07],"n":null,'
    '"z":100000000000000000000,"é":"line\\nbreak"},"event_id":"0b7c3c1e-4f5a-4d2b-9c8e-1a2b3c4d5e6f",'
    '"event_outcome":"success","event_timestamp":"2026-12-04T21:30:05.120000Z","event_type":"gateway.signal.received",'
    '"namespace":null,"parent_event_id":null,"resource_id":null,"resource_type":null,"severity":null,"version":"1.0"}'
)


def test_the_canonical_form_is_exactly_as_documented() -> None:
    assert canonical_json(ROW) == EXPECTED.encode()
    # jsonb gives 1e20 back as an integer and 3.0 as 3.0: the same canonical form
    assert canonical_json({**ROW, "event_data": {**ROW["event_data"], "z": 10**20}}) == EXPECTED.encode()


def test_the_hash_is_sha256_or_hmac_of_previous_hex_then_canonical_json() -> None:
    previous = "ab" * 32
    assert ChainHasher().sign(None, ROW) == hashlib.sha256(EXPECTED.encode()).hexdigest()
    assert ChainHasher().sign(previous, ROW) == hashlib.sha256((previous + EXPECTED).encode()).hexdigest()
    key = b"0123456789abcdef0123456789abcdef"
    keyed = hmac.new(key, (previous + EXPECTED).encode(), hashlib.sha256).hexdigest()
    assert ChainHasher(key).sign(previous, ROW) == keyed
    assert ChainHasher(key).digest(previous, ROW, "hmac-sha256") == keyed
    assert ChainHasher().digest(previous, ROW, "hmac-sha256") is None  # no key: cannot say
    assert "0123" not in repr(ChainHasher(key))


def test_a_short_key_is_refused_and_lock_keys_are_bigints() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ChainHasher(b"short")
    assert -(2**63) <= lock_key("rr-1") < 2**63
    assert lock_key("rr-1") == lock_key("rr-1") != lock_key("rr-2")


def test_the_key_comes_from_the_setting_or_its_file_and_is_never_shown(tmp_path: Path) -> None:
    secret = "s" * 40
    key_file = tmp_path / "chain.key"
    key_file.write_text(secret + "\n")
    assert load_chain_key(Settings(audit_chain_hmac_key_file=str(key_file))) == secret.encode()
    assert load_chain_key(Settings(audit_chain_hmac_key=secret)) == secret.encode()
    assert load_chain_key(Settings()) is None
    assert Settings(audit_chain_hmac_key=secret).effective()["WORKFLOW_SEARCH_AUDIT_CHAIN_HMAC_KEY"] == "***"
    for refused_settings in (
        Settings(audit_chain_hmac_key=secret, audit_chain_hmac_key_file=str(key_file)),
        Settings(audit_chain_hmac_key="short"),
        Settings(audit_chain_hmac_key_file=str(tmp_path / "absent")),
    ):
        with pytest.raises(ChainKeyError) as refused:
            load_chain_key(refused_settings)
        assert secret not in str(refused.value)
        assert "short" not in str(refused.value)


TEXT_CHARACTERS = st.characters(exclude_categories=["Cs"])  # no lone surrogates: not UTF-8
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(TEXT_CHARACTERS),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(TEXT_CHARACTERS, max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(event_data=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5), actor=st.none() | st.text())
def test_the_fast_canonical_form_equals_its_definition(event_data: dict[str, Any], actor: str | None) -> None:
    row = {**ROW, "event_data": event_data, "actor_id": actor}
    assert canonical_json(row) == reference_canonical_json(canonical_document(row))
