"""``crossbay promotions``: list campaigns and generate coupon codes in bulk (CSV to stdout)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

promotions_app = typer.Typer(help="Promotions, for staff: campaigns and coupon codes.", no_args_is_help=True)


@promotions_app.command("coupon-codes")
def coupon_codes(
    promotion_id: Annotated[str, typer.Argument(help="The coupon campaign (promo_…).")],
    count: Annotated[int, typer.Option(help="How many new codes.", min=1, max=100_000)],
    max_uses: Annotated[int, typer.Option(help="Orders each code is good for.", min=1)] = 1,
    prefix: Annotated[str, typer.Option(help="Letters and digits every code starts with.")] = "",
) -> None:
    """Generate COUNT unique codes for a campaign and print them as CSV (code, promotion_id, ...)."""
    from crossbay.clock import SystemClock
    from crossbay.db import transaction
    from crossbay.errors import CrossbayError
    from crossbay.promotions import campaigns

    with _sessions() as sessions:
        try:
            with sessions() as session, transaction(session):
                made = campaigns.generate_codes(
                    session,
                    promotion_id=promotion_id,
                    count=count,
                    max_uses=max_uses,
                    prefix=prefix,
                    now=SystemClock().now(),
                )
                text = campaigns.codes_csv(made)
        except CrossbayError as error:
            typer.echo(f"crossbay: {error.code}: {error.detail or ''}", err=True)
            raise typer.Exit(1) from None
    typer.echo(text, nl=False)


@promotions_app.command("list")
def list_promotions() -> None:
    """Every campaign: id, kind, active, codes, shared code, uses taken, title."""
    from crossbay.db import transaction
    from crossbay.i18n import localized
    from crossbay.promotions import campaigns

    with _sessions() as sessions, sessions() as session, transaction(session):
        for summary in campaigns.list_promotions(session):
            p = summary.promotion
            typer.echo(
                "\t".join(
                    (
                        p.id,
                        p.kind,
                        "active" if p.active else "off",
                        str(summary.codes),
                        summary.public_code or "-",
                        str(p.redeemed),
                        localized(p.names, "en"),
                    )
                )
            )


@contextmanager
def _sessions() -> Iterator[sessionmaker[Session]]:
    """Sessions on the configured database (codes need only the database, not the partners' secrets)."""
    from crossbay.db import make_engine, make_session_factory
    from crossbay.logs import configure_logging
    from crossbay.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    engine = make_engine(settings.database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
