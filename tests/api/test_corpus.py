"""The manifest corpus against the three validators: ours (OpenAPI + CEL), pydantic, and jsonschema.

Every invalid manifest is one realistic mistake and names the field the error must point at. Our
validator must name exactly that field; the pydantic models must reject it too; and the independent
``jsonschema`` library must reject the OpenAPI-level mistakes at the same field while accepting the
ones only a CEL / list-type / strict-field rule can catch (which proves those rules carry their weight).
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from federation.api.schema_validation import apply_defaults, prune_unknown, validate
from tests.api.corpus import MODELS, SCHEMAS, Manifest, corpus, path_tokens

INVALID = corpus("invalid")
VALID = corpus("valid")


def _ids(items: list[Manifest]) -> list[str]:
    return [m.id for m in items]


def test_corpus_is_large_and_distinct() -> None:
    assert len(INVALID) >= 30
    mistakes = [m.mistake for m in INVALID]
    assert all(mistakes), "every invalid manifest says which mistake it is"
    assert len(set(mistakes)) == len(mistakes)
    assert {m.layer for m in INVALID} == {"schema", "cel", "strict"}
    assert {m.kind for m in INVALID} == {"FederatedApp", "MemberCluster"}
    assert len(VALID) >= 5


@pytest.mark.parametrize("manifest", INVALID, ids=_ids(INVALID))
def test_invalid_rejected_naming_the_field(manifest: Manifest) -> None:
    schema = SCHEMAS[manifest.kind]
    errors = validate(schema, apply_defaults(schema, manifest.obj), reject_unknown=True)
    fields = [e.field for e in errors]
    assert manifest.expect in fields, f"{manifest.id}: expected an error on {manifest.expect}, got {errors}"
    named = [e for e in errors if e.field == manifest.expect]
    for err in named:
        assert err.message.startswith(f"{manifest.expect}: "), err.message
    if manifest.reason:
        assert manifest.reason in {e.reason for e in named}, named


@pytest.mark.parametrize("manifest", INVALID, ids=_ids(INVALID))
def test_invalid_rejected_by_pydantic(manifest: Manifest) -> None:
    model = MODELS[manifest.kind]
    with pytest.raises(ValidationError) as info:
        model.model_validate(manifest.obj)
    text = "\n".join(".".join(str(p) for p in err["loc"]) + ": " + err["msg"] for err in info.value.errors())
    leaf = [t for t in path_tokens(manifest.expect or "") if not t.isdigit()][-1]
    assert leaf in text, f"{manifest.id}: pydantic error does not mention {leaf!r}:\n{text}"


def _jsonschema_errors(schema: dict[str, Any], obj: dict[str, Any]) -> list[list[str]]:
    validator = jsonschema.Draft4Validator(schema)
    out: list[list[str]] = []
    for err in validator.iter_errors(obj):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "required":
            missing = err.message.split("'")[1]
            path.append(missing)
        out.append(path)
    return out


@pytest.mark.parametrize("manifest", INVALID, ids=_ids(INVALID))
def test_invalid_against_independent_jsonschema(manifest: Manifest) -> None:
    schema = SCHEMAS[manifest.kind]
    paths = _jsonschema_errors(schema, apply_defaults(schema, manifest.obj))
    expected = path_tokens(manifest.expect or "")
    if manifest.layer == "schema":
        assert expected in paths, f"{manifest.id}: jsonschema errors at {paths}, expected {expected}"
    else:
        assert paths == [], f"{manifest.id}: only a Kubernetes rule should catch this, not {paths}"


@pytest.mark.parametrize("manifest", VALID, ids=_ids(VALID))
def test_valid_manifest_accepted_everywhere(manifest: Manifest) -> None:
    schema = SCHEMAS[manifest.kind]
    defaulted = apply_defaults(schema, manifest.obj)
    assert validate(schema, defaulted, reject_unknown=True) == []
    assert _jsonschema_errors(schema, defaulted) == []
    assert prune_unknown(schema, defaulted) == defaulted
    model = MODELS[manifest.kind].model_validate(manifest.obj)
    # Python's defaults are the CRD's defaults: the model's dump equals the API server's defaulted object.
    dumped = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["spec"] == defaulted["spec"]


@pytest.mark.parametrize("manifest", VALID, ids=_ids(VALID))
def test_valid_manifest_round_trips_through_the_model(manifest: Manifest) -> None:
    schema = SCHEMAS[manifest.kind]
    model_cls = MODELS[manifest.kind]
    dumped = model_cls.model_validate(manifest.obj).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert validate(schema, dumped, reject_unknown=True) == []
    again = model_cls.model_validate(dumped).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert again == dumped
