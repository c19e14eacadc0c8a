"""The service's URL table: the guards' API, the operators' JSON API and pages, under the service prefix."""

from __future__ import annotations

from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado import web

from .admin_api import (
    AuditAPI,
    ClearStrikesAPI,
    ExemptionAPI,
    ExemptionsAPI,
    ExportAPI,
    FlagCheckAPI,
    LadderAPI,
    ServersAPI,
    StrikeEventsAPI,
    SummaryAPI,
    VerdictsAPI,
)
from .guard_api import (
    GuardExemptionsHandler,
    GuardPolicyHandler,
    HealthHandler,
    HeartbeatHandler,
    ReportsHandler,
    SyncHandler,
)
from .pages import (
    AuditPage,
    ClearStrikesPage,
    DashboardHandler,
    ExemptionsPage,
    ResolveFlagPage,
    RevokeExemptionPage,
    ServersPage,
    StrikesPage,
    TimelineHandler,
)


def routes(base_url: str) -> list[tuple[str, type[web.RequestHandler]]]:
    b = base_url
    return [
        (b + r"api/health", HealthHandler),
        (b + r"api/guard/reports", ReportsHandler),
        (b + r"api/guard/sync", SyncHandler),
        (b + r"api/guard/heartbeat", HeartbeatHandler),
        (b + r"api/guard/exemptions", GuardExemptionsHandler),
        (b + r"api/guard/policy", GuardPolicyHandler),
        (b + r"api/admin/verdicts", VerdictsAPI),
        (b + r"api/admin/summary", SummaryAPI),
        (b + r"api/admin/export", ExportAPI),
        (b + r"api/admin/exemptions", ExemptionsAPI),
        (b + r"api/admin/exemptions/(\d+)", ExemptionAPI),
        (b + r"api/admin/strikes/ladder", LadderAPI),
        (b + r"api/admin/strikes/events", StrikeEventsAPI),
        (b + r"api/admin/strikes/([^/]+)/clear", ClearStrikesAPI),
        (b + r"api/admin/servers", ServersAPI),
        (b + r"api/admin/flags/check", FlagCheckAPI),
        (b + r"api/admin/audit", AuditAPI),
        (b + r"oauth_callback", HubOAuthCallbackHandler),
        (b + r"users/([^/]+)/clear-strikes", ClearStrikesPage),
        (b + r"users/([^/]+)", TimelineHandler),
        (b + r"exemptions", ExemptionsPage),
        (b + r"exemptions/(\d+)/revoke", RevokeExemptionPage),
        (b + r"strikes", StrikesPage),
        (b + r"servers", ServersPage),
        (b + r"flags/(\d+)/resolve", ResolveFlagPage),
        (b + r"audit", AuditPage),
        (b + r"?", DashboardHandler),
    ]
