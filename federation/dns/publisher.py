"""DnsPublisher: the controller's one call per reconcile to publish an app's DNS.

Per call: steering (pure) -> the desired records; the provider's current records -> a plan (pure,
restricted to the app's own names); the plan applied in its safe order; every change written to
the store's DNS change log with its reason; and a :class:`PublishResult` for the app's status
(serving flag and reason per region, records per line, failOpen, the changes). Trouble (a provider
error, a name owned by someone else) comes back in the result (``error``, ``conflicts``), never as
an exception, so the controller turns it into the ``DNSPublished`` condition.

Reasons in the change log: ``created`` (first publish of a name), ``fail-open``, ``region-unhealthy``
(a region's records leave because it failed), ``region-recovered`` (a region not served before comes
back), ``weight-change``, ``ttl-change``, ``latency-shift`` (the nearest region of a line changed),
``policy-change`` (the spec changed what is answered), ``released`` (a name the app no longer uses,
or the app's deletion).

Claims. Each controller replica plans against its own view of the zone (the alidns provider's cache,
re-read every ``max_age``; the embedded provider's records, which take the other replicas' from the
store every poll), so a name another replica claimed a moment ago can look free. A plan that would
claim a name (create its ownership marker: every fedctl writer writes the marker before any record of
the name) is therefore checked first: a provider that can (``refresh_names``; alidns: one
DescribeSubDomainRecords of the marker's name; embedded with sharded replicas: one store query) reads
that marker afresh into its view, and the plan is made again, so another app's marker is a conflict
and nothing is written. Only claims pay that read: a publish of names the app already owns makes no
extra call. What remains is two replicas claiming one name within the same instant (both fresh reads
answered before either marker is written, or, embedded, stored): both write their markers and
records, and clients get both apps' addresses. alidns has no conditional write to prevent that (and
the embedded provider serves a publish before it stores it). It is caught afterwards: once a replica
sees both markers (alidns: at its next zone read; embedded: at its follower's next load, which takes
such a name from the store), the plan reports the name as contested, a ``HostnameConflict`` naming the
hostname and both apps, for each app, and neither app touches the name's records until one of them
gives the name up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from federation import metrics
from federation.dns.latency import LatencyMatrix
from federation.dns.lines import LineCatalogue, default_catalogue
from federation.dns.plan import (
    MANAGED_TYPES,
    OWNER_PREFIX,
    Change,
    Plan,
    make_plan,
    owner_name,
    owner_record,
    ownership,
    per_line,
)
from federation.dns.providers import DnsProvider, DnsProviderError
from federation.dns.records import Record
from federation.dns.steering import (
    DEFAULT_STEERING_LINES,
    DesiredRecords,
    DnsSpecLike,
    RegionEndpoint,
    desired_records,
)
from federation.dns.store import DnsStore

log = logging.getLogger(__name__)

SAMPLES_WINDOW = timedelta(hours=1)  # live latency samples older than this are not used


@dataclass(frozen=True, slots=True)
class AppIdentity:
    namespace: str
    name: str
    uid: str | None = None

    @property
    def key(self) -> str:
        """The owner written in the DNS ownership marker (stable across re-creation of the app)."""
        return f"{self.namespace}/{self.name}"


@dataclass
class PublishResult:
    zone: str
    hostname: str
    ok: bool  # the desired records are published (or nothing needed to change)
    fail_open: bool = False
    serving: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    records: dict[str, list[str]] = field(default_factory=dict)  # line -> values as published
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    error: str | None = None  # what went wrong, in full (for the log: may carry request ids)
    error_code: str | None = None  # the provider's error code (or the exception type): stable
    # whether ``records``/``serving`` describe what the provider holds now (False when it was not read:
    # the status then keeps what it said before)
    known: bool = True
    retry_after: float = 0.0  # seconds until the provider may be called again (after a refusal)
    deferred: bool = False  # not tried at all: the provider is paused after refusing
    api_calls: int = 0
    warnings: list[str] = field(default_factory=list)
    unknown_lines: list[str] = field(default_factory=list)  # spec.dns.lines codes not in the catalogue

    @property
    def reason(self) -> str:
        """A CamelCase reason for the DNSPublished condition."""
        if self.conflicts:
            return "HostnameConflict"
        if self.error:
            return "ProviderError"
        if self.unknown_lines:
            return "UnknownLine"
        if self.fail_open:
            return "FailOpen"
        return "Published"

    @property
    def message(self) -> str:
        """For the ``DNSPublished`` condition: stable while the outcome is the same (no request ids, no
        per-call counts), so a repeated failure does not rewrite the app's status."""
        if self.conflicts:
            return "; ".join(self.conflicts)
        if self.error:
            return (
                f"{self.hostname}: the DNS provider failed ({self.error_code or 'ProviderError'}); retrying"
            )
        base = f"{self.hostname}: {len(self.records)} line(s)"
        base += " (fail-open: no healthy region, answering all)" if self.fail_open else ""
        return "; ".join([base, *self.warnings])

    def status_records(self) -> list[dict[str, Any]]:
        """``status.dns.records`` of the app: [{line, values}]."""
        return [{"line": line, "values": values} for line, values in sorted(self.records.items())]


ChangeLogger = Callable[[str, str, Sequence[Change], datetime], Any]


class DnsPublisher:
    """Publishes apps' records through one provider."""

    def __init__(
        self,
        provider: DnsProvider,
        *,
        catalogue: LineCatalogue | None = None,
        latency: LatencyMatrix | None = None,
        store: DnsStore | None = None,
        steering_lines: Sequence[str] = DEFAULT_STEERING_LINES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.catalogue = catalogue or default_catalogue()
        self.latency = latency or LatencyMatrix(self.catalogue)
        self.store = store  # None: no change log, no live latency samples
        self.steering_lines = tuple(steering_lines)
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._base_latency = self.latency
        # zone -> {name: owner} from the ownership markers, read once per zone and every
        # ``owners_refresh``, kept current by our own changes (so a plan reads only its own names).
        self._owners: dict[str, tuple[datetime, dict[str, str]]] = {}
        self.owners_refresh = timedelta(minutes=5)
        self._samples_at: datetime | None = None
        self.samples_window = SAMPLES_WINDOW
        self.samples_refresh = timedelta(seconds=60)  # how often publish() re-reads them
        # After the provider refuses a call (throttling, busy) every app pauses: 1 s, doubling while it
        # refuses every write, up to ``refusal_max`` (thousands of apps must not retry into a throttled
        # API); a write that goes through starts the count afresh.
        self.refusal_base = 1.0
        self.refusal_max = 60.0
        self._monotonic = monotonic
        self._refusals = 0
        self._paused_until = 0.0
        self._refused_code = ""
        self._unrecorded: set[tuple[str, str]] = set()  # (zone, app) whose published records the store missed
        # (app, region) -> when a publish first saw the served region unhealthy (failover metric)
        self._failing_since: dict[tuple[str, str], float] = {}

    def forget_owners(self) -> None:
        """Drop the cached ownership markers (read again at the next plan): another replica may have
        changed them while this one was not publishing."""
        self._owners.clear()

    async def refresh_latency(self) -> int:
        """Re-read the live latency samples (medians over ``samples_window``) from the store; they
        take precedence over configuration and the default table. Returns how many pairs."""
        if self.store is None:
            return 0
        now = self._clock()
        try:
            medians = await self.store.latency_medians(now - self.samples_window)
        except Exception as exc:  # no samples is a degraded mode, not an error of the publish
            log.warning("dns: reading latency samples failed: %s", exc)
            return 0
        samples = {pair: ms for pair, ms in medians.items() if pair[0] in self.catalogue}
        self.latency = self._base_latency.with_samples(samples)
        self._samples_at = now
        return len(samples)

    def paused(self) -> float:
        """Seconds until the provider may be called again after refusing (0: now)."""
        return max(0.0, self._paused_until - self._monotonic())

    def _refused(self, err: DnsProviderError) -> None:
        if not err.refused:
            return
        pause = min(self.refusal_max, self.refusal_base * 2 ** min(self._refusals, 30))
        self._refusals += 1
        self._refused_code = err.code
        self._paused_until = self._monotonic() + pause
        log.warning("dns: the provider refused a call (%s): no calls for %.1fs", err.code, pause)

    def _accepted(self) -> None:
        if self._refusals:
            log.info("dns: the provider accepts calls again")
        self._refusals = 0
        self._paused_until = 0.0

    def _probing(self) -> contextlib.AbstractContextManager[None]:
        """After refusals, calls go out once each (the provider's ``single_shot``, if it has one)."""
        single_shot = getattr(self.provider, "single_shot", None)
        if self._refusals and single_shot is not None:
            return cast(contextlib.AbstractContextManager[None], single_shot())
        return contextlib.nullcontext()

    def _while_paused(self, zone: str, hostname: str) -> PublishResult | None:
        wait = self.paused()
        if not wait:
            return None
        return PublishResult(
            zone,
            hostname,
            ok=False,
            error=f"{hostname}: not calling the provider for {wait:.1f}s after {self._refused_code}",
            error_code=self._refused_code,
            known=False,
            retry_after=wait,
            deferred=True,
        )

    def _lock(self, hostname: str) -> asyncio.Lock:
        return self._locks.setdefault(hostname, asyncio.Lock())

    def desired(
        self,
        spec: DnsSpecLike,
        regions: Sequence[RegionEndpoint],
        *,
        failover_order: Sequence[str] | None = None,
        latency_samples: Mapping[tuple[str, str], float] | None = None,
    ) -> DesiredRecords:
        matrix = self.latency.with_samples(latency_samples) if latency_samples else self.latency
        return desired_records(
            spec,
            regions,
            matrix,
            self.catalogue,
            failover_order=failover_order,
            steering_lines=self.steering_lines,
        )

    async def plan(
        self,
        app: AppIdentity,
        spec: DnsSpecLike,
        regions: Sequence[RegionEndpoint],
        *,
        failover_order: Sequence[str] | None = None,
        latency_samples: Mapping[tuple[str, str], float] | None = None,
    ) -> tuple[DesiredRecords, Plan, list[Record]]:
        """What :meth:`publish` would do, without doing it: (desired, plan with reasons, current)."""
        zone = _zone_of(spec)
        hostname = spec.hostname.lower().rstrip(".")
        desired = self.desired(spec, regions, failover_order=failover_order, latency_samples=latency_samples)
        owners = await self._owners_of(zone)
        # Names this app owned under an earlier hostname are released by the same plan.
        old = sorted(n for n, owner in owners.items() if owner == app.key and n != hostname)
        names = {n for h in (hostname, *old) for n in (h, owner_name(h))}
        current = await self.provider.records(zone, names)
        if not desired.records:
            # No region has an address yet: keep whatever answers now rather than empty the name.
            return desired, Plan(zone), current
        plan = make_plan(
            zone, app.key, desired.records, current, names=old, update_in_place=self.provider.supports_update
        )
        claims = _claims(plan)
        refresh = getattr(self.provider, "refresh_names", None)
        if claims and refresh is not None:
            # The claim check: this plan would claim names that our view of the zone shows free, and
            # that view may predate another replica's claim. Read their markers afresh and plan again
            # (a marker of another app is then a conflict, and nothing is written).
            await refresh(zone, [owner_name(h) for h in claims])
            current = await self.provider.records(zone, names)
            self._note_claimants(zone, claims, current)
            plan = make_plan(
                zone,
                app.key,
                desired.records,
                current,
                names=old,
                update_in_place=self.provider.supports_update,
            )
        plan = replace(plan, changes=tuple(_with_reasons(plan.changes, current, desired, regions, spec)))
        return desired, plan, current

    async def publish(
        self,
        app: AppIdentity,
        spec: DnsSpecLike,
        regions: Sequence[RegionEndpoint],
        *,
        failover_order: Sequence[str] | None = None,
        latency_samples: Mapping[tuple[str, str], float] | None = None,
    ) -> PublishResult:
        zone, hostname = _zone_of(spec), spec.hostname.lower().rstrip(".")
        started = time.monotonic()
        if self.store is not None and (
            self._samples_at is None or self._clock() - self._samples_at >= self.samples_refresh
        ):
            await self.refresh_latency()
        async with self._lock(hostname):
            paused = self._while_paused(zone, hostname)
            if paused is not None:
                return paused
            try:
                desired, plan, current = await self.plan(
                    app, spec, regions, failover_order=failover_order, latency_samples=latency_samples
                )
            except DnsProviderError as err:
                log.warning("dns: reading %s failed: %s", zone, err)
                self._refused(err)
                return PublishResult(
                    zone,
                    hostname,
                    ok=False,
                    error=f"reading {zone}: {err}",
                    error_code=err.code,
                    known=False,
                    retry_after=self.paused(),
                )
            except Exception as exc:  # a bug or bad data must become a condition, not a crash loop
                log.exception("dns: planning %s failed", hostname)
                return PublishResult(
                    zone,
                    hostname,
                    ok=False,
                    error=f"planning {hostname}: {exc}",
                    error_code=type(exc).__name__,
                    known=False,
                )
            result = PublishResult(
                zone,
                hostname,
                ok=True,
                fail_open=desired.fail_open,
                serving=dict(desired.serving),
                reasons=dict(desired.reasons),
                conflicts=list(plan.conflicts),
            )
            if desired.unknown_lines:
                # The rest is published, but the spec is not honoured: its clients fall back to
                # their parent lines. Not published as asked, so the condition says False.
                result.ok = False
                result.unknown_lines = list(desired.unknown_lines)
                result.warnings.append(
                    f"spec.dns.lines: unknown line(s) {', '.join(desired.unknown_lines)} are not in the "
                    "line catalogue (see fedctl dns lines); their clients get their parent line's answer"
                )
            applied: list[Change] = []
            if plan.conflicts:
                result.ok = False
                result.serving = dict.fromkeys(result.serving, False)
                result.reasons = dict.fromkeys(result.reasons, "hostname-conflict")
            if plan.changes:
                try:
                    with self._probing():
                        outcome = await self.provider.apply(plan)
                    applied = list(outcome.applied)
                    result.api_calls = outcome.api_calls
                    self._accepted()
                except DnsProviderError as err:
                    applied = list(plan.changes[: err.applied])
                    result.ok = False
                    result.error = f"publishing {hostname}: {err}"
                    result.error_code = err.code
                    log.warning("dns: %s", result.error)
                    if err.applied:
                        self._accepted()  # some writes went through: not a sustained refusal
                    self._refused(err)
                    result.retry_after = self.paused()
                except Exception as exc:  # unknown how far it got: the next reconcile re-reads the zone
                    log.exception("dns: publishing %s failed", hostname)
                    invalidate = getattr(self.provider, "invalidate", None)
                    if invalidate is not None:
                        invalidate(zone)
                    result.ok = False
                    result.error = f"publishing {hostname}: {exc}"
                    result.error_code = type(exc).__name__
            result.changes = applied
            self._note_owners(zone, applied)
            state = _after(current, applied)
            result.records = dict(per_line(r for r in state if r.name == hostname))
            if result.error:
                # a region is served only if its address is in what the provider holds now
                published = {v.lower().rstrip(".") for values in result.records.values() for v in values}
                for e in regions:
                    served = bool(e.address) and str(e.address).lower().rstrip(".") in published
                    if result.serving.get(e.region) and not served:
                        result.serving[e.region] = False
                        result.reasons[e.region] = "the DNS provider failed"
            # What the app owns, its ownership marker included (a plan made from the store needs it).
            mine = [
                r
                for r in state
                if (r.name == hostname and r.rtype in MANAGED_TYPES) or r == owner_record(hostname, app.key)
            ]
            await self._log(zone, app, applied, published=None if plan.conflicts else mine)
            self._time_failovers(app, regions, current, state, started)
            metrics.dns_published("error" if not result.ok else ("changed" if applied else "unchanged"))
            return result

    def _time_failovers(
        self,
        app: AppIdentity,
        regions: Sequence[RegionEndpoint],
        before: Sequence[Record],
        after: set[Record],
        started: float,
    ) -> None:
        """Observe how long a failed region stayed in DNS after a publish first saw it unhealthy."""
        was = {r.value.lower().rstrip(".") for r in before if r.rtype in MANAGED_TYPES}
        now = {r.value.lower().rstrip(".") for r in after if r.rtype in MANAGED_TYPES}
        for e in regions:
            key = (app.key, e.region)
            addr = (e.address or "").lower().rstrip(".")
            if e.healthy or not addr:
                self._failing_since.pop(key, None)
                continue
            if addr in was and key not in self._failing_since:
                self._failing_since[key] = started
            if key in self._failing_since and addr not in now:
                metrics.failover(time.monotonic() - self._failing_since.pop(key))

    async def delete(self, app: AppIdentity, zone: str, hostnames: Sequence[str] = ()) -> PublishResult:
        """Release every name the app owns in ``zone`` (its finalizer): records, then markers."""
        zone = zone.lower().rstrip(".")
        paused = self._while_paused(zone, hostnames[0] if hostnames else "")
        if paused is not None:
            return paused
        try:
            current = await self.provider.records(zone)
        except DnsProviderError as err:
            self._refused(err)
            return PublishResult(
                zone,
                hostnames[0] if hostnames else "",
                ok=False,
                error=str(err),
                error_code=err.code,
                known=False,
            )
        plan = make_plan(
            zone, app.key, [], current, names=hostnames, update_in_place=self.provider.supports_update
        )
        plan = replace(plan, changes=tuple(replace(c, reason="released") for c in plan.changes))
        result = PublishResult(
            zone, hostnames[0] if hostnames else "", ok=True, conflicts=list(plan.conflicts)
        )
        if plan.changes:
            try:
                outcome = await self.provider.apply(plan)
                result.changes = list(outcome.applied)
                result.api_calls = outcome.api_calls
                self._accepted()
            except DnsProviderError as err:
                result.changes = list(plan.changes[: err.applied])
                result.ok = False
                result.error = f"releasing {zone}: {err}"
                result.error_code = err.code
                if err.applied:
                    self._accepted()
                self._refused(err)
        self._note_owners(zone, result.changes)
        await self._log(zone, app, result.changes, published=[] if result.ok else None)
        return result

    async def _owners_of(self, zone: str) -> dict[str, str]:
        now = self._clock()
        known = self._owners.get(zone)
        if known is None or now - known[0] >= self.owners_refresh:
            known = (now, ownership(await self.provider.records(zone)))
            self._owners[zone] = known
        return known[1]

    def _note_owners(self, zone: str, changes: Sequence[Change]) -> None:
        known = self._owners.get(zone)
        if known is None:
            return
        for c in changes:
            if c.record.rtype == "TXT" and c.record.name.startswith(OWNER_PREFIX + "."):
                found = ownership([c.record])
                for name, owner in found.items():
                    if c.action == "delete":
                        known[1].pop(name, None)
                    else:
                        known[1][name] = owner

    def _note_claimants(self, zone: str, names: Sequence[str], current: Sequence[Record]) -> None:
        """What a claim check found on ``names`` goes into the cached ownership too."""
        known = self._owners.get(zone)
        if known is None:
            return
        markers = {owner_name(n) for n in names}
        found = ownership(r for r in current if r.name in markers)
        for name in names:
            if name in found:
                known[1][name] = found[name]
            else:
                known[1].pop(name, None)

    async def owned_names(self, app: AppIdentity, zone: str) -> list[str]:
        current = await self.provider.records(zone)
        return sorted(n for n, owner in ownership(current).items() if owner == app.key)

    async def _log(
        self, zone: str, app: AppIdentity, changes: Sequence[Change], *, published: Sequence[Record] | None
    ) -> None:
        """Append the changes to the store's change log and record what the app has published (what
        ``fedctl dns show`` reads)."""
        if self.store is None:
            return
        if not changes and (published is None or (zone, app.key) not in self._unrecorded):
            return
        if published is not None and (changes or (zone, app.key) in self._unrecorded):
            # Other replicas serve these (federation.dns.replica): a failed write is retried by the
            # app's next publish even when that publish changes nothing.
            record_ids = getattr(self.provider, "record_ids", None)  # providers with their own ids
            ids = record_ids(zone, published) if record_ids is not None else None
            try:
                await self.store.replace_published(zone, list(published), owner_app=app.key, provider_ids=ids)
            except Exception as exc:
                log.warning("dns: recording the published records failed: %s", exc)
                self._unrecorded.add((zone, app.key))
            else:
                self._unrecorded.discard((zone, app.key))
        if not changes:
            return
        try:
            await self.store.append_changes(zone, app.key, changes, self._clock())
        except Exception as exc:  # the log is history, not correctness: never fail a publish for it
            log.warning("dns: writing the change log failed: %s", exc)


def _zone_of(spec: DnsSpecLike) -> str:
    zone = getattr(spec, "zone", None)
    if not zone:
        raise ValueError("dns.zone: Required value")
    return str(zone).lower().rstrip(".")


def _claims(plan: Plan) -> list[str]:
    """The names ``plan`` claims: those whose ownership marker it creates (a plan creates one only
    for a name it sees without any)."""
    prefix = OWNER_PREFIX + "."
    return [
        c.record.name[len(prefix) :]
        for c in plan.changes
        if c.action == "create" and c.record.rtype == "TXT" and c.record.name.startswith(prefix)
    ]


def _after(current: Sequence[Record], applied: Sequence[Change]) -> set[Record]:
    from federation.dns.plan import apply_change

    state = set(current)
    for c in applied:
        apply_change(state, c)
    return state


def _with_reasons(
    changes: Sequence[Change],
    current: Sequence[Record],
    desired: DesiredRecords,
    regions: Sequence[RegionEndpoint],
    spec: DnsSpecLike,
) -> list[Change]:
    """Each change with why it is made (the change log's reason)."""
    region_of = {e.address.lower().rstrip("."): e for e in regions if e.address}
    had_name = {r.name for r in current if r.rtype in MANAGED_TYPES}
    served_before = {
        region_of[r.value.lower().rstrip(".")].region
        for r in current
        if r.rtype in MANAGED_TYPES and r.value.lower().rstrip(".") in region_of
    }
    # What this publish is about: a served region that failed, or a region coming (back) into service.
    # A change whose own values do not name that region (a line that now differs from its parent, or
    # no longer does) has the same cause: a drain is never a latency shift.
    failed = next(
        (
            f"region-unhealthy: {e.reason}" if e.reason else "region-unhealthy"
            for e in regions
            if not e.healthy and e.region in served_before
        ),
        None,
    )
    returned = any(ok and region not in served_before for region, ok in desired.serving.items())
    out: list[Change] = []
    for c in changes:
        r = c.record
        if r.name.startswith(OWNER_PREFIX + "."):
            reason = "created" if c.action == "create" else "released"
        elif r.name not in had_name and c.action == "create":
            reason = "created"
        elif desired.fail_open:
            reason = "fail-open"
        elif c.action == "update" and c.old is not None and c.old.value == r.value:
            reason = "weight-change" if c.old.weight != r.weight else "ttl-change"
        else:
            leaving = c.old if c.action == "update" else (r if c.action == "delete" else None)
            arriving = r if c.action != "delete" else None
            gone = region_of.get(leaving.value.lower().rstrip(".")) if leaving is not None else None
            came = region_of.get(arriving.value.lower().rstrip(".")) if arriving is not None else None
            if gone is not None and not gone.healthy:
                # why it failed, when known: the change log answers "why did traffic move?"
                reason = f"region-unhealthy: {gone.reason}" if gone.reason else "region-unhealthy"
            elif came is not None and came.region not in served_before:
                reason = "region-recovered"
            elif failed is not None:
                reason = failed
            elif returned:
                reason = "region-recovered"
            elif spec.policy == "Latency":
                reason = "latency-shift"
            else:
                reason = "policy-change"
        out.append(replace(c, reason=reason))
    return out
