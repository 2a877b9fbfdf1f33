"""The apiserver's storage semantics for one simulated cluster, independent of HTTP.

Create/get/update/patch/delete/list over the :class:`Store` with the rules clients rely on (Kubernetes
API concepts: "Resource versions", "Efficient detection of changes", "Retrieving large results sets in
chunks"; API conventions: "Concurrency Control and Consistency", "Metadata", "Spec and Status"):
optimistic concurrency on resourceVersion, generation bumped on spec changes only, status subresource
split, finalizers holding deletion with deletionTimestamp set, ownerReference bookkeeping for garbage
collection, and CRD registration at run time.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from federation.sandbox.kube import kinds
from federation.sandbox.kube.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    gone,
    invalid,
    not_found,
    qualified,
)
from federation.sandbox.kube.patch import json_patch, merge_patch, strategic_merge_patch
from federation.sandbox.kube.resources import ResourceType, builtin_types, types_from_crd
from federation.sandbox.kube.selectors import Matcher, field_selector_name
from federation.sandbox.kube.store import Key, Store

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
NS_KEY = "/namespaces"
GENERATION_GROUPS = {"apps"}
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strip_meta(obj: dict[str, Any], status: bool) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status" if status else "")}


class ClusterApi:
    """Everything a request can do to one cluster's objects."""

    def __init__(self, history_size: int = 10_000) -> None:
        self.store = Store(history_size)
        self.types: dict[tuple[str, str, str], ResourceType] = {}
        self.types_version = 0
        self.ips = kinds.IpAllocator()
        self.on_types_changed: list[Callable[[], None]] = []
        for rt in builtin_types():
            self.types[(rt.group, rt.version, rt.plural)] = rt

    # ----- type registry -------------------------------------------------------------------------
    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.types.get((group, version, plural))
        if rt is None:
            raise ApiError(
                404,
                "NotFound",
                "the server could not find the requested resource",
                {"group": group, "kind": plural},
            )
        return rt

    def type_for_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rt in self.types.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for g, v, _ in self.types:
            vs = out.setdefault(g, [])
            if v not in vs:
                vs.append(v)
        return out

    def _sync_crd_types(self, crd: dict[str, Any], removed: bool = False) -> None:
        name = crd["metadata"]["name"]
        for k in [k for k, rt in self.types.items() if rt.crd_name == name]:
            del self.types[k]
        if not removed:
            for rt in types_from_crd(crd):
                self.types[(rt.group, rt.version, rt.plural)] = rt
        self.types_version += 1
        for cb in self.on_types_changed:
            cb()

    # ----- helpers -------------------------------------------------------------------------------
    def _key(self, rt: ResourceType, ns: str | None, name: str) -> Key:
        return (ns or "", name) if rt.namespaced else ("", name)

    def _present(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object as the requested version presents it (CR versions share storage)."""
        if obj.get("apiVersion") != rt.api_version:
            return {**obj, "apiVersion": rt.api_version}
        return obj

    def _stamp(self, obj: dict[str, Any]) -> int:
        rv = self.store.next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        return rv

    def _check_namespace(self, rt: ResourceType, ns: str, name: str) -> None:
        nso = self.store.get(NS_KEY, ("", ns))
        if nso is None:
            raise not_found("namespaces", "", ns)
        if nso["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f'{qualified(rt.plural, rt.group)} "{name}" is forbidden: unable to create new content '
                f"in namespace {ns} because it is being terminated",
                {
                    "name": name,
                    "group": rt.group,
                    "kind": rt.plural,
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "field": "metadata.namespace",
                            "message": f"namespace {ns} is being terminated",
                        }
                    ],
                },
            )

    def _validate_custom(
        self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, strict: bool
    ) -> dict[str, Any]:
        """Prune, default and validate a custom resource against its CRD schema."""
        if not rt.schema:
            return obj
        from federation.api import schema_validation as sv  # the API engineer's general validator

        keep: dict[str, Any] = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
        if strict:
            unknown = sv.unknown_fields(rt.schema, obj)
            if unknown:
                # kube-apiserver's strict field validation (fieldValidation=Strict, kubectl's default)
                # rejects unknown fields with 400 "strict decoding error".
                raise bad_request(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown)
                )
        pruned = sv.prune_unknown(rt.schema, obj)
        out: dict[str, Any] = sv.apply_defaults(rt.schema, pruned)
        out.update(keep)
        errors = sv.validate(rt.schema, out, old)
        if errors:
            raise invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), _causes(errors))
        return out

    def _admit(
        self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, strict: bool
    ) -> dict[str, Any]:
        from federation.api.objectmeta import annotation_errors

        too_big = annotation_errors(obj["metadata"])
        if too_big:
            raise invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), _causes(too_big))
        if rt.crd_name:
            return self._validate_custom(rt, obj, old, strict)
        k = rt.kind
        if k == "Deployment":
            kinds.admit_deployment(obj)
        elif k == "Service":
            kinds.admit_service(obj, old, self.ips)
        elif k == "Secret":
            kinds.admit_secret(obj)
        elif k == "Namespace":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
            if old is None:
                obj["status"] = {"phase": "Active"}
        elif k == "CustomResourceDefinition":
            self._admit_crd(obj)
        return obj

    def _admit_crd(self, obj: dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        name = obj["metadata"]["name"]
        want = f"{names.get('plural', '')}.{spec.get('group', '')}"
        causes = []
        if name != want:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "metadata.name",
                    "message": f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                }
            )
        versions = spec.get("versions") or []
        if not versions:
            causes.append(
                {"reason": "FieldValueRequired", "field": "spec.versions", "message": "Required value"}
            )
        elif sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "spec.versions",
                    "message": "Invalid value: must have exactly one version marked as storage version",
                }
            )
        for field_ in ("kind", "plural"):
            if not names.get(field_):
                causes.append(
                    {
                        "reason": "FieldValueRequired",
                        "field": f"spec.names.{field_}",
                        "message": "Required value",
                    }
                )
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(
                {
                    "reason": "FieldValueNotSupported",
                    "field": "spec.scope",
                    "message": f'Unsupported value: "{spec.get("scope")}": supported values: '
                    '"Cluster", "Namespaced"',
                }
            )
        for i, v in enumerate(versions):
            schema = (v.get("schema") or {}).get("openAPIV3Schema")
            if schema is None:
                continue
            from federation.api import schema_validation as sv

            for problem in sv.check_schema(schema):
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "field": f"spec.versions[{i}].schema.openAPIV3Schema",
                        "message": f"Invalid value: {problem}",
                    }
                )
        if causes:
            raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, causes)
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
        spec.setdefault("conversion", {"strategy": "None"})
        stored = next(v["name"] for v in versions if v.get("storage"))
        obj["status"] = {
            "acceptedNames": dict(names),
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now_iso(),
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now_iso(),
                },
            ],
            "storedVersions": [stored],
        }

    def _tracks_generation(self, rt: ResourceType) -> bool:
        return (
            rt.crd_name is not None or rt.group in GENERATION_GROUPS or rt.kind == "CustomResourceDefinition"
        )

    # ----- verbs ---------------------------------------------------------------------------------
    def get(self, rt: ResourceType, ns: str | None, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.key, self._key(rt, ns, name))
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return self._present(rt, obj)

    def create(
        self,
        rt: ResourceType,
        ns: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        strict: bool = False,
        owned: bool = False,
    ) -> dict[str, Any]:
        """`owned`: the caller hands `body` over (a freshly decoded request), so no copy is needed."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        obj = body if owned else copy.deepcopy(body)
        md = obj.get("metadata")
        if not isinstance(md, dict):
            md = obj["metadata"] = {}
        self._check_kind(rt, obj)
        name = md.get("name")
        if not name:
            gen = md.get("generateName")
            if not gen:
                raise invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "field": "metadata.name",
                            "message": "Required value: name or generateName is required",
                        }
                    ],
                )
            name = md["name"] = gen + uuid.uuid4().hex[:5]
        if rt.namespaced:
            if md.get("namespace") and ns and md["namespace"] != ns:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            ns = ns or md.get("namespace") or "default"
            md["namespace"] = ns
            self._check_namespace(rt, ns, name)
        else:
            md.pop("namespace", None)
        kinds.check_name(rt.kind, rt.group, name)  # custom resources too: DNS-1123 subdomains
        key = self._key(rt, ns, name)
        if self.store.get(rt.key, key) is not None:
            raise already_exists(rt.plural, rt.group, name)
        if rt.status_subresource and rt.kind != "Node":
            obj.pop("status", None)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        for f in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            md.pop(f, None)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_iso()
        if self._tracks_generation(rt):
            md["generation"] = 1
        obj = self._admit(rt, obj, None, strict)
        if dry_run:
            return obj
        self._stamp(obj)
        self.store.write(rt.key, key, obj, "ADDED")
        if rt.kind == "CustomResourceDefinition":
            self._sync_crd_types(obj)
        return self._present(rt, obj)

    def _check_kind(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        kind, av = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != rt.kind:
            raise bad_request(
                f"the kind of the object ({kind}) does not match the kind of the resource ({rt.kind})"
            )
        if av and rt.crd_name is None and av != rt.api_version:
            raise bad_request(
                f"the API version in the data ({av}) does not match the expected API version "
                f"({rt.api_version})"
            )

    def update(
        self,
        rt: ResourceType,
        ns: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
        owned: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        key = self._key(rt, ns, name)
        old = self.store.get(rt.key, key)
        if old is None:
            raise not_found(rt.plural, rt.group, name)
        md = body.get("metadata") or {}
        if md.get("name") and md["name"] != name:
            raise bad_request(
                f"the name of the object ({md['name']}) does not match the name on the URL ({name})"
            )
        rv = md.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        new = body if owned else copy.deepcopy(body)
        return self._commit_update(rt, key, old, new, subresource, dry_run, strict)

    def _commit_update(
        self,
        rt: ResourceType,
        key: Key,
        old: dict[str, Any],
        new: dict[str, Any],
        subresource: str | None,
        dry_run: bool,
        strict: bool,
    ) -> dict[str, Any]:
        self._check_kind(rt, new)
        omd = old["metadata"]
        if subresource == "status":
            # Status updates change only .status (API conventions: "Spec and Status").
            status = new.get("status")
            new = {k: v for k, v in old.items() if k != "status"}
            if status is not None:
                new["status"] = status
            new["metadata"] = dict(omd)
        else:
            md = new.setdefault("metadata", {})
            if not isinstance(md, dict):
                raise bad_request("metadata must be an object")
            if rt.status_subresource:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            for f in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
                "name",
            ):
                if f in omd:
                    md[f] = omd[f]
                else:
                    md.pop(f, None)
            if omd.get("deletionTimestamp"):
                added = set(md.get("finalizers") or []) - set(omd.get("finalizers") or [])
                if added:
                    raise invalid(
                        rt.kind,
                        rt.group,
                        omd["name"],
                        [
                            {
                                "reason": "FieldValueForbidden",
                                "field": "metadata.finalizers",
                                "message": "Forbidden: no new finalizers can be added if the object is "
                                f"being deleted, found new finalizers {sorted(added)!r}",
                            }
                        ],
                    )
        new["apiVersion"] = old.get("apiVersion", rt.api_version) if rt.crd_name else rt.api_version
        new["kind"] = rt.kind
        if subresource != "status":
            new = self._admit(rt, new, old, strict)
        if self._tracks_generation(rt) and subresource != "status":
            status_split = rt.status_subresource
            if _strip_meta(new, status_split) != _strip_meta(old, status_split):
                new["metadata"]["generation"] = int(omd.get("generation", 1)) + 1
        if rt.kind == "CustomResourceDefinition" and subresource != "status":
            pass  # status recomputed by _admit_crd
        if dry_run:
            return self._present(rt, new)
        new["metadata"]["resourceVersion"] = omd["resourceVersion"]
        if new == old:
            return self._present(rt, old)  # a no-op write keeps the resourceVersion (no event)
        self._stamp(new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._finish_delete(rt, key, new)
            return self._present(rt, new)
        self.store.write(rt.key, key, new, "MODIFIED")
        if rt.kind == "CustomResourceDefinition":
            self._sync_crd_types(new)
        return self._present(rt, new)

    def patch(
        self,
        rt: ResourceType,
        ns: str | None,
        name: str,
        content_type: str,
        raw: bytes,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
        force: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        key = self._key(rt, ns, name)
        old = self.store.get(rt.key, key)
        ctype = content_type.split(";")[0].strip().lower()
        if ctype == "application/apply-patch+yaml":
            from federation.sandbox.kube.apply import server_side_apply

            return server_side_apply(
                self,
                rt,
                ns,
                name,
                raw,
                old,
                dry_run=dry_run,
                force=force,
                field_manager=field_manager,
                subresource=subresource,
            )
        if old is None:
            raise not_found(rt.plural, rt.group, name)
        try:
            p = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"error decoding patch: {exc}") from exc
        cur = self._present(rt, old)
        if ctype == "application/merge-patch+json":
            # a deep copy first: admission may set fields in place, and nothing may touch `old`
            new = merge_patch(copy.deepcopy(cur), p)
        elif ctype == "application/json-patch+json":
            new = json_patch(cur, p)
        elif ctype == "application/strategic-merge-patch+json":
            if rt.crd_name:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml",
                )
            new = strategic_merge_patch(cur, p, rt.kind)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join((*PATCH_TYPES[:2], PATCH_TYPES[3]) if rt.crd_name else PATCH_TYPES)}",
            )
        if not isinstance(new, dict):
            raise bad_request("the patched object is not a JSON object")
        md: dict[str, Any] = new["metadata"] if isinstance(new.get("metadata"), dict) else {}
        want_rv = md.get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        return self._commit_update(rt, key, old, new, subresource, dry_run, strict)

    def delete(
        self,
        rt: ResourceType,
        ns: str | None,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Returns (object or Status, deleted_now)."""
        options = options or {}
        key = self._key(rt, ns, name)
        old = self.store.get(rt.key, key)
        if old is None:
            raise not_found(rt.plural, rt.group, name)
        pre = options.get("preconditions") or {}
        omd = old["metadata"]
        if pre.get("uid") and pre["uid"] != omd.get("uid"):
            raise conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {omd['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != omd["resourceVersion"]:
            raise conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {omd['resourceVersion']}",
            )
        if dry_run:
            return self._present(rt, old), False
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is True:
            policy = "Orphan"
        new = copy.deepcopy(old)
        md = new["metadata"]
        finalizers = list(md.get("finalizers") or [])
        if policy == "Orphan":
            self.orphan_dependents(omd.get("uid", ""))
        elif (
            policy == "Foreground"
            and self.store.dependents.get(omd.get("uid", ""))
            and "foregroundDeletion" not in finalizers
        ):
            finalizers.append("foregroundDeletion")
        if rt.kind == "Namespace" and "kubernetes" in (new.get("spec") or {}).get("finalizers", []):
            new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
            finalizers = finalizers or []
            pending = True
        else:
            pending = bool(finalizers)
        if pending:
            if md.get("deletionTimestamp") and md.get("finalizers") == finalizers and rt.kind != "Namespace":
                return self._present(rt, old), False
            md.setdefault("deletionTimestamp", now_iso())
            md.setdefault("deletionGracePeriodSeconds", 0)
            if finalizers:
                md["finalizers"] = finalizers
            if new != old:
                self._stamp(new)
                self.store.write(rt.key, key, new, "MODIFIED")
            return self._present(rt, new), False
        self._stamp(new)
        self._finish_delete(rt, key, new)
        return self._present(rt, new), True

    def _finish_delete(self, rt: ResourceType, key: Key, obj: dict[str, Any]) -> None:
        self.store.write(rt.key, key, obj, "DELETED")
        if rt.kind == "Service":
            self.ips.release(obj)
        elif rt.kind == "CustomResourceDefinition":
            for crt in [t for t in self.types.values() if t.crd_name == obj["metadata"]["name"]][:1]:
                for k, o in list(self.store.iter_objects(crt.key)):
                    self.store.write(
                        crt.key,
                        k,
                        {**o, "metadata": {**o["metadata"], "resourceVersion": str(self.store.next_rv())}},
                        "DELETED",
                    )
            self._sync_crd_types(obj, removed=True)

    def orphan_dependents(self, uid: str) -> None:
        for rkey, key in list(self.store.dependents.get(uid, ())):
            dep = self.store.get(rkey, key)
            if dep is None:
                continue
            new = copy.deepcopy(dep)
            new["metadata"]["ownerReferences"] = [
                r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") != uid
            ]
            if not new["metadata"]["ownerReferences"]:
                del new["metadata"]["ownerReferences"]
            self._stamp(new)
            self.store.write(rkey, key, new, "MODIFIED")

    def list(
        self,
        rt: ResourceType,
        ns: str | None,
        *,
        label: Matcher | None = None,
        field: Matcher | None = None,
        field_expr: str | None = None,
        limit: int = 0,
        cont: str | None = None,
    ) -> dict[str, Any]:
        store = self.store
        list_rv = store.rv
        start: list[str] | None = None
        if cont:
            try:
                tok = orjson.loads(base64.urlsafe_b64decode(cont.encode() + b"=="))
                list_rv, start = int(tok["rv"]), list(tok["start"])
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request(
                    "continue key is not valid: incorrect encoded start resourceVersion "
                    "(version meta.k8s.io/v1)"
                ) from exc
            if list_rv < store.compacted_rv:
                # Kubernetes API concepts, "Retrieving large results sets in chunks": an expired
                # continue token gets 410 Gone; the client must start a fresh list.
                raise gone(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                )
        items: list[dict[str, Any]] = []
        pinned = field_selector_name(field_expr)
        more = False
        remaining = 0
        if pinned is not None:
            candidates: Any = []
            if rt.namespaced and ns is not None:
                o = store.get(rt.key, (ns, pinned))
                candidates = [((ns, pinned), o)] if o is not None else []
            else:
                candidates = [(k, o) for k, o in store.iter_objects(rt.key, ns) if k[1] == pinned]
        else:
            candidates = store.iter_objects(rt.key, ns if rt.namespaced else None)
        start_key = tuple(start) if start else None
        for k, o in candidates:
            if start_key is not None and k <= start_key:
                continue
            if label is not None and not label(o):
                continue
            if field is not None and not field(o):
                continue
            if limit and len(items) >= limit:
                more = True
                remaining += 1
                if label is not None or field is not None:
                    break
                continue
            items.append(o)
        if rt.crd_name:
            items = [self._present(rt, o) for o in items]
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if more:
            last = items[-1]["metadata"]
            token = {
                "rv": list_rv,
                "start": [last.get("namespace", "") if rt.namespaced else "", last["name"]],
            }
            meta["continue"] = base64.urlsafe_b64encode(orjson.dumps(token)).decode().rstrip("=")
            if label is None and field is None:
                meta["remainingItemCount"] = remaining
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": items}

    # ----- used by simulated controllers ---------------------------------------------------------
    def write_status(
        self, rt: ResourceType, obj: dict[str, Any], status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Replace the status of the stored object if it changed (no generation bump)."""
        key = self._key(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        cur = self.store.get(rt.key, key)
        if cur is None or cur.get("status") == status:
            return cur
        new = {**cur, "status": status, "metadata": dict(cur["metadata"])}
        self._stamp(new)
        self.store.write(rt.key, key, new, "MODIFIED")
        return new


def _causes(errors: list[Any]) -> list[dict[str, str]]:
    """Field errors (``schema_validation.FieldError``) as a 422's causes, without the field prefix."""
    causes = []
    for e in errors:
        msg = e.message
        if msg.startswith(e.field + ": "):
            msg = msg[len(e.field) + 2 :]
        causes.append({"reason": e.reason, "message": msg, "field": e.field})
    return causes
