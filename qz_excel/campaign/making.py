"""`qz template` inside a campaign, as one call for the command line and the web page."""

from __future__ import annotations

from datetime import date

from qz_excel.campaign.folder import Campaign
from qz_excel.campaign.settings import set_settings
from qz_excel.template.writer import TemplateOptions


def template_options(
    campaign: Campaign, deadline: str | None = None, contact: str | None = None, generated_at: date | None = None
) -> TemplateOptions:
    """The options the campaign's templates are made with: qz.toml's deadline and contact
    unless given; the date of the first templates, recorded in qz.toml the first time, so
    every later run makes byte-identical files."""
    settings = campaign.settings
    if generated_at is None:
        generated_at = settings.generated_at or date.today()
        if settings.generated_at is None:
            set_settings(campaign.settings_file, {("", "generated_at"): generated_at.isoformat()})
    return TemplateOptions(
        deadline=settings.deadline_text if deadline is None else deadline,
        contact=settings.contact if contact is None else contact,
        generated_at=generated_at.isoformat(),
    )
