"""The review report: one self-contained HTML page for a success team's review.

:func:`review` computes the figures of a dataset as of a date (the health tiers and
their trend, the accounts to call first with their reasons and playbooks, MRR movements,
NPS, churn reasons and customer lifetimes, and the health model's own backtest);
:func:`html` renders them as one HTML file with its styles and SVG charts inline: no
script, no font, no image and nothing else fetched, so it opens offline, mails as one
file and prints. Headings, table captions and header cells give it structure; the palette
is colour-blind safe and every colour comes with a label or a number.

Sections are optional: each is a :class:`Section` whose ``render`` returns ``None`` when
the review has nothing for it (no NPS answers, no churn yet, too little history for a
backtest), and callers add their own with ``extra_sections``. The command
``custsuccess report --html report.html`` writes the same page.

```pycon
>>> from custsuccess.demo import generate
>>> from custsuccess.plugins import Registry
>>> from custsuccess import report
>>> page = report.html(generate(300, seed=1), registry=Registry(entry_points=False))
>>> page.startswith("<!DOCTYPE html>"), "<script" in page, "http://" in page.replace(
...     "http://www.w3.org/2000/svg", "")
(True, False, False)

```
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import attrs

if TYPE_CHECKING:
    import numpy as np

    from custsuccess.dataset import Dataset
    from custsuccess.health import HealthModel
    from custsuccess.plugins import Registry

__all__ = ["SECTIONS", "TIER_COLORS", "Review", "Section", "html", "render", "review"]

#: Colours of the tiers (Okabe-Ito blue, orange, vermillion; grey for unscored).
TIER_COLORS: Final = {"good": "#0072b2", "average": "#e69f00", "poor": "#d55e00",
                      "unscored": "#999999"}
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@attrs.frozen(slots=True)
class Review:
    """The figures of the review report (plain Python values, ready to render or to
    serialise). Rates are fractions; money is in the data's currency."""

    as_of: str
    accounts: int
    mrr: float
    tier_counts: dict[str, int]
    tier_trend: list[tuple[str, dict[str, int]]]
    call_first: list[dict[str, Any]]
    mrr_months: list[dict[str, Any]]
    nps_quarters: list[dict[str, Any]]
    churn_since: str
    churned: int
    churn_reasons: list[dict[str, Any]]
    lifetime: dict[str, Any] | None
    backtest: dict[str, Any] | None
    owners: list[dict[str, Any]] | None = None
    renewals: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


class Section(NamedTuple):
    """A part of the page: ``ident`` (its anchor), ``title`` and ``render(review)``,
    which returns the section's inner HTML or None to leave the section out."""

    ident: str
    title: str
    render: Callable[[Review], str | None]


def _month_end(t: np.datetime64, back: int) -> np.datetime64:
    import numpy as np

    month = t.astype("datetime64[M]") - np.timedelta64(back, "M")
    end: np.datetime64 = month.astype("datetime64[us]")
    return end


def review(
    dataset: Dataset,
    as_of: datetime | np.datetime64 | str | None = None,
    *,
    model: HealthModel | None = None,
    registry: Registry | None = None,
    call_first: int = 10,
    trend_months: int = 6,
    backtest_days: float = 90.0,
) -> Review:
    """The figures of the review of ``dataset`` as of ``as_of`` (default: midnight UTC at
    or after the last moment the data records, as the command line takes it), scored by
    ``model`` (default: the default model of ``registry``)."""
    import numpy as np

    from custsuccess import churn, metrics
    from custsuccess.dataset import to_datetime64
    from custsuccess.errors import ValidationError
    from custsuccess.health import HealthModel, backtest
    from custsuccess.metrics.accounts import rollup_by_owner
    from custsuccess.metrics.renewals import upcoming_renewals
    from custsuccess.plugins import Registry

    registry = Registry.default() if registry is None else registry
    model = HealthModel.default(registry) if model is None else model
    t = _default_as_of(dataset) if as_of is None else to_datetime64(as_of, "as_of")
    view = dataset.until(t)
    report = model.score(dataset, t)
    mrr_now = metrics.customer_mrr(view, t)
    playbooks = registry.playbooks()
    names = dataset.customers.name
    segments = dataset.customers.segment.decode()
    risky = report.at_risk(call_first)
    calls = []
    for row in range(len(risky)):
        cid = str(risky.customer_ids[row])
        i = int(risky.index[row])
        explanation = risky.explain(cid)
        reasons = [r.reason for r in explanation.rules
                   if r.applicable and r.effect is not None and r.effect < 0 and r.reason][:3]
        calls.append({
            "customer_id": cid,
            "name": None if names[i] is None else str(names[i]),
            "segment": None if segments[i] is None else str(segments[i]),
            "mrr": float(mrr_now[i]),
            "score": float(risky.score[row]),
            "tier": str(risky.tier[row]),
            "reasons": reasons,
            "playbooks": [(p, str(getattr(playbooks[p].value, "description", "")))
                          if p in playbooks else (p, "") for p in explanation.playbooks],
        })
    trend = []
    for back in range(trend_months - 1, -1, -1):
        moment = _month_end(t, back)
        if moment >= t:
            continue
        counts = model.score(dataset, moment).tier_counts()
        trend.append((str(moment.astype("datetime64[D]")), counts))
    trend.append((str(t.astype("datetime64[D]")), report.tier_counts()))
    start = _month_end(t, trend_months)
    moves = metrics.mrr_movements(view, start=start, end=t)
    mrr_months = [
        {"period": label, **{k: float(getattr(moves, k)[i]) for k in (
            "opening", "new", "expansion", "reactivation", "contraction", "churn", "closing")}}
        for i, label in enumerate(moves.periods.labels)
    ]
    nps = metrics.nps_by_period(view, start=_month_end(t, 12), end=t)
    nps_quarters = [
        {"period": label, "score": float(nps.score[i]), "answers": int(nps.n[i]),
         "promoters": int(nps.promoters[i]), "passives": int(nps.passives[i]),
         "detractors": int(nps.detractors[i])}
        for i, label in enumerate(nps.periods.labels)
    ]
    records = churn.records(dataset, t, registry=registry)
    since = (t.astype("datetime64[D]") - np.timedelta64(365, "D")).astype("datetime64[us]")
    recent = records.take(records.churned_at > since)
    dist = churn.reason_distribution(recent)
    churn_reasons = [
        {"reason": str(r), "customers": int(c), "share": float(s), "mrr_lost": float(m)}
        for r, c, s, m in zip(dist.reason, dist.count, dist.share, dist.mrr_lost, strict=True)
    ]
    km = churn.lifetimes_from(dataset, t).kaplan_meier()
    lifetime = None if km.n == 0 else {
        "customers": int(km.n), "churned": int(km.events.sum()), "median_days": km.median,
        "median_lower": km.median_lower, "median_upper": km.median_upper,
        "timeline": km.timeline.tolist(), "survival": km.survival.tolist(),
    }
    tested = None
    observed = dataset.observation_end
    if observed is not None:
        origin = min(t, observed) - np.timedelta64(round(backtest_days * 86_400e6), "us")
        try:
            result = backtest(model, dataset, origin, backtest_days)
        except ValidationError:
            result = None
        if result is not None and result.n_accounts:
            tested = {
                "as_of": str(result.as_of.astype("datetime64[D]")),
                "horizon_days": float(result.horizon_days), "accounts": result.n_accounts,
                "churned": result.n_churned, "churn_rate": result.churn_rate,
                "auc": result.auc, "lift": result.lift,
                "tiers": {k: dict(v) for k, v in result.tiers.items()},
            }
    owners = None
    if dataset.n_customers and any(o is not None for o in dataset.customers.owner.decode()):
        books = rollup_by_owner(report, dataset)
        owners = [{**books.row(k), "owner": k} for k in books.keys.tolist()]
    due = upcoming_renewals(report, dataset, within_days=90)
    renewals = [
        {"customer_id": str(due.customer_ids[i]), "renews_at": str(due.renews_at[i])[:10],
         "mrr": float(due.mrr[i]), "score": float(due.score[i]), "tier": str(due.tier[i]),
         "owner": due.owner[i], "revenue_at_risk": float(due.revenue_at_risk[i])}
        for i in range(len(due))
    ] or None
    return Review(
        as_of=_iso(t), accounts=len(report), mrr=float(mrr_now[report.index].sum()),
        tier_counts=report.tier_counts(), tier_trend=trend, call_first=calls,
        mrr_months=mrr_months, nps_quarters=nps_quarters,
        churn_since=str(since.astype("datetime64[D]")), churned=len(recent),
        churn_reasons=churn_reasons, lifetime=lifetime, backtest=tested, owners=owners,
        renewals=renewals,
    )


def _default_as_of(dataset: Dataset) -> np.datetime64:
    # the command line's rule, without importing the command line
    import numpy as np

    latest = dataset.observation_end
    if latest is None:
        created = dataset.customers.created_at
        if not created.size:
            from custsuccess.errors import ValidationError

            raise ValidationError("the data holds no customers: nothing to review")
        latest = created.max()
    latest = max(latest, dataset.customers.created_at.max()) if dataset.n_customers else latest
    day = latest.astype("datetime64[D]").astype("datetime64[us]")
    end: np.datetime64 = day if day == latest else day + np.timedelta64(1, "D")
    return end


def _iso(t: np.datetime64) -> str:
    import numpy as np

    return str(np.datetime_as_string(t, unit="s", timezone="UTC"))


# --------------------------------------------------------------------------- HTML


def _text(value: Any) -> str:
    """Text from the data, escaped for HTML, control characters shown as their code."""
    return escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", str(value)))


def _num(value: float | None, fmt: str = "{:,.0f}", figure: str | None = None) -> str:
    text = "n/a" if value is None or not math.isfinite(value) else fmt.format(value)
    raw = "" if value is None or not math.isfinite(value) else f' data-value="{value!r}"'
    attr = f' data-figure="{figure}"' if figure else ""
    return f"<span{attr}{raw}>{text}</span>"


def _pct(value: float | None, figure: str | None = None) -> str:
    if value is None or not math.isfinite(value):
        return _num(None, figure=figure)
    attr = f' data-figure="{figure}"' if figure else ""
    return f'<span{attr} data-value="{value!r}">{100 * value:.1f}%</span>'


def _table(caption: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
           numeric: Sequence[bool]) -> str:
    head = "".join(f'<th scope="col"{" class=num" if n else ""}>{escape(h)}</th>'
                   for h, n in zip(headers, numeric, strict=True))
    body = "".join(
        "<tr>" + "".join(
            (f'<th scope="row">{c}</th>' if j == 0 else
             f'<td{" class=num" if numeric[j] else ""}>{c}</td>')
            for j, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return (f'<div class="scroll"><table><caption>{escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _tier(name: str) -> str:
    return f'<span class="tier tier-{escape(name)}">{escape(name)}</span>'


def _summary(r: Review) -> str:
    from custsuccess.report._svg import bars

    cards = [("Accounts scored", _num(r.accounts, figure="accounts")),
             ("MRR of the scored accounts", _num(r.mrr, figure="mrr"))]
    cards += [(f"{tier.capitalize()} health", _num(n, figure=f"tier.{tier}"))
              for tier, n in r.tier_counts.items()]
    html_cards = "".join(f'<div class="card"><div class="label">{escape(k)}</div>'
                         f'<div class="value">{v}</div></div>' for k, v in cards)
    chart = bars(list(r.tier_counts), [float(v) for v in r.tier_counts.values()],
                 title="Accounts per health tier", ident="tiers",
                 colors=[TIER_COLORS.get(t, "#999") for t in r.tier_counts])
    return f'<div class="cards">{html_cards}</div><figure>{chart}</figure>'


def _trend(r: Review) -> str | None:
    from custsuccess.report._svg import stacked_columns

    if len(r.tier_trend) < 2:
        return None
    tiers = [t for t in ("good", "average", "poor", "unscored")
             if any(c.get(t) for _, c in r.tier_trend)]
    series = [(t, [float(c.get(t, 0)) for _, c in r.tier_trend], TIER_COLORS[t]) for t in tiers]
    chart = stacked_columns([d for d, _ in r.tier_trend], series,
                            title="Accounts per tier at each month's start", ident="trend")
    rows = [[escape(d), *[_num(c.get(t, 0)) for t in tiers]] for d, c in r.tier_trend]
    table = _table("Accounts per tier over time", ["as of", *tiers], rows,
                   [False, *[True] * len(tiers)])
    return f'<div class="grid2"><figure>{chart}</figure>{table}</div>'


def _call_first(r: Review) -> str | None:
    if not r.call_first:
        return None
    rows = []
    for k, a in enumerate(r.call_first):
        who = _text(a["customer_id"]) + (f"<br><small>{_text(a['name'])}</small>"
                                          if a["name"] else "")
        reasons = ("".join(f"<li>{_text(x)}</li>" for x in a["reasons"])
                   or "<li>no single rule stands out</li>")
        plays = "".join(f"<li><strong>{_text(p)}</strong>" + (f": {_text(d)}" if d else "")
                        + "</li>" for p, d in a["playbooks"]) or "<li>no playbook applies</li>"
        rows.append([
            f'<span data-figure="call.{k}.customer_id">{who}</span>',
            _text(a["segment"] or ""), _num(a["mrr"], figure=f"call.{k}.mrr"),
            _num(a["score"], "{:.1f}", figure=f"call.{k}.score") + " " + _tier(a["tier"]),
            f'<ul class="reasons">{reasons}</ul>', f'<ul class="reasons">{plays}</ul>',
        ])
    return ('<p class="lede">The lowest health scores first: why each is low, and what to '
            "do next.</p>" + _table("Accounts to call first",
                                   ["account", "segment", "MRR", "score", "why", "next"],
                                   rows, [False, False, True, True, False, False]))


def _mrr(r: Review) -> str | None:
    from custsuccess.report._svg import bars

    if not r.mrr_months:
        return None
    kinds = ("opening", "new", "expansion", "reactivation", "contraction", "churn", "closing")
    rows = [[escape(m["period"]), *[_num(m[k], figure=f"mrr.{m['period']}.{k}") for k in kinds]]
            for m in r.mrr_months]
    chart = bars([m["period"] for m in r.mrr_months], [m["closing"] for m in r.mrr_months],
                 title="MRR at each month's end", ident="mrr")
    return (f"<figure>{chart}</figure>"
            + _table("MRR movements per month (money in the subscriptions' currency)",
                     ["month", *kinds], rows, [False, *[True] * len(kinds)]))


def _nps(r: Review) -> str | None:
    from custsuccess.report._svg import bars

    if not any(q["answers"] for q in r.nps_quarters):
        return None
    rows = [[escape(q["period"]), _num(q["score"], "{:+.1f}", figure=f"nps.{q['period']}"),
             _num(q["answers"]), _num(q["promoters"]), _num(q["passives"]),
             _num(q["detractors"])] for q in r.nps_quarters]
    chart = bars([q["period"] for q in r.nps_quarters],
                 [q["score"] + 100 if math.isfinite(q["score"]) else math.nan
                  for q in r.nps_quarters],
                 title="NPS per quarter (bars from -100)", ident="nps", fmt="{:,.0f}")
    note = ('<p class="muted">NPS = % promoters (9-10) - % detractors (0-6), from -100 to '
            "100; the bars start at -100 and are labelled NPS + 100.</p>")
    return note + f'<div class="grid2"><figure>{chart}</figure>' + _table(
        "NPS per quarter", ["quarter", "NPS", "answers", "promoters", "passives",
                            "detractors"], rows, [False, True, True, True, True, True]
    ) + "</div>"


def _churn(r: Review) -> str | None:
    from custsuccess.report._svg import bars, step_curve

    if not r.churn_reasons and r.lifetime is None:
        return None
    parts = [f'<p class="lede">{_num(r.churned, figure="churned")} customers churned since '
             f"{escape(r.churn_since)}.</p>"]
    if r.churn_reasons:
        parts.append('<div class="grid2"><figure>' + bars(
            [x["reason"] for x in r.churn_reasons], [x["customers"] for x in r.churn_reasons],
            title="Churned customers per reason", ident="reasons") + "</figure>")
        parts.append(_table("Churn reasons of the last 12 months",
                            ["reason", "customers", "share", "MRR lost"],
                            [[_text(x["reason"]), _num(x["customers"],
                              figure=f"reason.{x['reason']}"), _pct(x["share"]),
                              _num(x["mrr_lost"])] for x in r.churn_reasons],
                            [False, True, True, True]) + "</div>")
    life = r.lifetime
    if life is not None:
        median = life["median_days"]
        text = ("not reached (over half still subscribed)" if math.isinf(median)
                else f"{median:,.0f} days")
        parts.append(
            "<h3>Customer lifetime</h3>"
            f'<p>Median lifetime (Kaplan-Meier): <span data-figure="lifetime.median"'
            f' data-value="{median!r}">{text}</span>, from {life["customers"]:,} customers '
            f'of whom {life["churned"]:,} churned.</p><figure>'
            + step_curve(life["timeline"], life["survival"], title="Share of customers still "
                         "subscribed by days since their first subscription", ident="survival",
                         x_label="days since signup", y_label="still subscribed")
            + "<figcaption>Kaplan-Meier estimate; customers still subscribed count as "
            "censored.</figcaption></figure>"
        )
    return "".join(parts)


def _backtest(r: Review) -> str | None:
    from custsuccess.report._svg import bars

    b = r.backtest
    if b is None:
        return None
    tiers = [t for t in ("good", "average", "poor") if t in b["tiers"]]
    chart = bars(tiers, [b["tiers"][t]["churn_rate"] * 100 for t in tiers],
                 title="Churn within the horizon per tier (%)", ident="backtest",
                 colors=[TIER_COLORS[t] for t in tiers], fmt="{:.1f}%")
    rows = [[_tier(t), _num(b["tiers"][t]["accounts"]), _num(b["tiers"][t]["churned"]),
             _pct(b["tiers"][t]["churn_rate"], figure=f"backtest.{t}")] for t in tiers]
    lift = b["lift"]
    return (
        f'<p class="lede">Is the score to be trusted? Scored as of {escape(b["as_of"])} '
        f'(seeing nothing later), {b["accounts"]:,} accounts; {b["churned"]:,} churned '
        f'within {b["horizon_days"]:.0f} days. ROC AUC '
        f'{_num(b["auc"], "{:.3f}", figure="backtest.auc")} (0.5 is chance, 1 is perfect); '
        f"poor-tier churn is {_num(lift, '{:.1f}', figure='backtest.lift')} times the good "
        "tier's.</p>"
        f'<div class="grid2"><figure>{chart}</figure>'
        + _table("Churn per tier after the backtest date",
                 ["tier", "accounts", "churned", "churn rate"], rows,
                 [False, True, True, True]) + "</div>"
    )


def _owners(r: Review) -> str | None:
    if not r.owners:
        return None
    rows = [[_text(o["owner"] if o["owner"] is not None else "(no owner)"),
             _num(o["accounts"]), _num(o["good"]), _num(o["average"]),
             _num(o["poor"], figure=f"owner.{o['owner']}.poor"), _num(o["mrr"]),
             _num(o["health"], "{:.1f}"), _num(o["mrr_at_risk"])] for o in r.owners]
    return _table("Each owner's book: accounts per tier, MRR, MRR-weighted health, MRR "
                  "in poor health", ["owner", "accounts", "good", "average", "poor", "MRR",
                                     "health", "MRR at risk"], rows,
                  [False, True, True, True, True, True, True, True])


def _renewals(r: Review) -> str | None:
    if not r.renewals:
        return None
    rows = [[_text(x["customer_id"]), escape(x["renews_at"]), _num(x["mrr"]),
             _num(x["score"], "{:.1f}") + " " + _tier(x["tier"]),
             _text(x["owner"] if x["owner"] is not None else ""),
             _num(x["revenue_at_risk"])] for x in r.renewals]
    poor = sum(x["mrr"] for x in r.renewals if x["tier"] == "poor")
    return (f'<p class="lede">{len(r.renewals):,} subscriptions renew in the next 90 days; '
            f'{_num(poor, figure="renewals.mrr_poor")} of their MRR is in accounts of poor '
            "health. Revenue at risk is MRR x churn probability where the model gives one "
            "(n/a otherwise).</p>"
            + _table("Renewals in the next 90 days, soonest first",
                     ["account", "renews", "MRR", "health", "owner", "revenue at risk"], rows,
                     [False, False, True, True, False, True]))


#: The report's sections, in page order; each is left out when it has nothing to show.
SECTIONS: Final[tuple[Section, ...]] = (
    Section("summary", "Health at a glance", _summary),
    Section("trend", "Tiers over time", _trend),
    Section("call-first", "Accounts to call first", _call_first),
    Section("renewals", "Upcoming renewals", _renewals),
    Section("owners", "Owners' books", _owners),
    Section("mrr", "MRR movements", _mrr),
    Section("nps", "Net Promoter Score", _nps),
    Section("churn", "Churn reasons and customer lifetime", _churn),
    Section("backtest", "How well the score predicts churn", _backtest),
)


def render(review_: Review, *, title: str = "Customer-success review",
           sections: Sequence[Section] = SECTIONS) -> str:
    """The HTML page of ``review_``: the ``sections`` that have something to show."""
    from custsuccess import __version__

    css = resources.files("custsuccess.report").joinpath("assets/report.css").read_text(
        encoding="utf-8")
    shown = [(s, body) for s in sections if (body := s.render(review_)) is not None]
    nav = "".join(f'<li><a href="#{s.ident}">{escape(s.title)}</a></li>' for s, _ in shown)
    parts = "".join(
        f'<section id="{s.ident}" aria-labelledby="{s.ident}-h"><h2 id="{s.ident}-h">'
        f"{escape(s.title)}</h2>{body}</section>" for s, body in shown
    )
    stamp = review_.as_of.replace("T", " ").replace("Z", " UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)} as of {escape(stamp)}</title><style>{css}</style></head>"
        f'<body><header><h1>{escape(title)}</h1><p class="lede">As of '
        f'<time datetime="{escape(review_.as_of)}" data-figure="as_of">{escape(stamp)}</time>'
        f"</p><nav aria-label=\"Sections\"><ul>{nav}</ul></nav></header>"
        f"<main>{parts}</main><footer><p>Made by custsuccess {escape(__version__)}: "
        "health from the installed health rules, churn from the churn records, money in "
        "the subscriptions' currency, rates as percentages.</p></footer></body></html>\n"
    )


def html(
    dataset: Dataset,
    as_of: datetime | np.datetime64 | str | None = None,
    *,
    path: str | Path | None = None,
    model: HealthModel | None = None,
    registry: Registry | None = None,
    title: str = "Customer-success review",
    sections: Sequence[Section] = SECTIONS,
    extra_sections: Sequence[Section] = (),
) -> str:
    """The review report of ``dataset`` as of ``as_of`` as one self-contained HTML page
    (see :func:`review` for the figures and the defaults); also written to ``path`` when
    given. ``extra_sections`` come after ``sections``."""
    page = render(review(dataset, as_of, model=model, registry=registry), title=title,
                  sections=(*sections, *extra_sections))
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page
