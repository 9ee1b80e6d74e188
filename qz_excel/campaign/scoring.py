"""`qz score` inside a campaign, as one call: the same inputs whichever way the clerk asks
(the command line or the web page), so the results folder is the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from qz_excel.campaign.folder import Campaign
from qz_excel.common.towns import read_towns
from qz_excel.pipeline import ProgressFactory, ScoreOptions, run_score
from qz_excel.results.last_year import LastYear, read_last_year
from qz_excel.rules.ruleset import load_rules


@dataclass(frozen=True)
class CampaignScore:
    strict: bool = False
    pdf: bool = False
    per_town_sheets: bool = False
    review: bool = False  # apply 结果/核定表.xlsx …
    review_file: Path | None = None  # … or this filled 核定表 (any name, .xlsx/.xls/.ods)
    made_on: date | None = None


def last_year_of(campaign: Campaign) -> LastYear | None:
    """Last year's results named in qz.toml (None when none is); raises LastYearError for
    a file that is no 汇总."""
    path = campaign.last_year
    return None if path is None else read_last_year(path, campaign.settings.last_year.renamed)


def score_campaign(
    campaign: Campaign, choice: CampaignScore = CampaignScore(), progress: ProgressFactory | None = None
):
    """Scores the campaign's inbox into its results folder; returns the Report. Raises what
    the library raises (RulesError, TownsError, ReviewError, LastYearError, OSError …)."""
    rules = load_rules(campaign.rules)
    towns = read_towns(campaign.towns_file)
    review = None
    if choice.review:
        from qz_excel.followup.review import read_review

        review = read_review(choice.review_file or campaign.review_table, rules)
    options = ScoreOptions(
        strict=choice.strict,
        per_town_sheets=choice.per_town_sheets,
        pdf=choice.pdf,
        maker=campaign.settings.maker or ScoreOptions.maker,
        made_on=choice.made_on,
        last_year=last_year_of(campaign),
    )
    return run_score(
        Path(campaign.inbox), towns, Path(campaign.results), rules, options, progress=progress, review=review
    )
