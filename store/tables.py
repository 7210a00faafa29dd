"""The PostGIS schema as SQLAlchemy Core tables; changed only through store/migrations."""

from __future__ import annotations

import sqlalchemy as sa
from geoalchemy2 import Geography, Geometry
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

GEOFENCE_KINDS = ("service_zone", "restricted", "hub")
ORDER_STATES = ("created", "offered", "assigned", "picked_up", "delivered", "cancelled", "failed")


def _now() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.Text, sa.ForeignKey("tenants.id"), nullable=False)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    _now(),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    _tenant(),
    # sha256 of the secret: a leaked table reveals no usable key.
    sa.Column("key_hash", sa.LargeBinary, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    _now(),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

couriers = sa.Table(
    "couriers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    # Compact surrogate for the positions table: fixed-width rows keep the binary COPY vectorized.
    sa.Column("num", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    _tenant(),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("vehicle", sa.Text, nullable=False, server_default="bike"),
    sa.Column("capacity", sa.Integer, nullable=False, server_default="1"),
    _now(),
    sa.CheckConstraint("capacity >= 0", name="capacity"),
)
sa.Index(None, couriers.c.tenant_id)

# Partitioned by day (RANGE on ts); no foreign key and no spatial index so COPY stays fast.
courier_positions = sa.Table(
    "courier_positions",
    metadata,
    sa.Column("courier_num", sa.BigInteger, nullable=False),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("pos", Geography("POINT", srid=4326, spatial_index=False), nullable=False),
    sa.Column("speed", sa.Float),
    sa.Column("heading", sa.Float),
    sa.Column("accuracy", sa.Float),
    postgresql_partition_by="RANGE (ts)",
)
sa.Index(None, courier_positions.c.courier_num, courier_positions.c.ts)
sa.Index("ix_courier_positions_ts_brin", courier_positions.c.ts, postgresql_using="brin")

geofences = sa.Table(
    "geofences",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    _tenant(),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _now(),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint(_in("kind", GEOFENCE_KINDS), name="kind"),
    sa.CheckConstraint(
        "GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON') AND ST_IsValid(geom)", name="polygon"
    ),
)
sa.Index(None, geofences.c.geom, postgresql_using="gist")
sa.Index(None, geofences.c.tenant_id, geofences.c.kind)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    _tenant(),
    sa.Column("idempotency_key", sa.Text),
    sa.Column("request_hash", sa.Text),
    # geometry (planar, SRID 4326) so ST_Covers agrees with shapely's planar covers.
    sa.Column("pickup", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    sa.Column("dropoff", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="created"),
    sa.Column("courier_id", sa.Text, sa.ForeignKey("couriers.id")),
    sa.Column("size", sa.Integer, nullable=False, server_default="1"),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("amount_minor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("currency", sa.Text, nullable=False, server_default="XXX"),
    sa.Column("pickup_window_start", sa.DateTime(timezone=True)),
    sa.Column("pickup_window_end", sa.DateTime(timezone=True)),
    sa.Column("dropoff_window_start", sa.DateTime(timezone=True)),
    sa.Column("dropoff_window_end", sa.DateTime(timezone=True)),
    sa.Column("pickup_eta", sa.DateTime(timezone=True)),
    sa.Column("dropoff_eta", sa.DateTime(timezone=True)),
    sa.Column("pin_hash", sa.Text),
    # Wrong delivery PINs (`orders.pin_attempts`): one counter all API workers share.
    sa.Column("pin_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("proof_kind", sa.Text),
    sa.Column("proof_reference", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    _now(),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.UniqueConstraint("tenant_id", "idempotency_key"),
    sa.CheckConstraint(_in("state", ORDER_STATES), name="state"),
    sa.CheckConstraint("size >= 0", name="size"),
    sa.CheckConstraint("amount_minor >= 0", name="amount"),
)
sa.Index(None, orders.c.tenant_id, orders.c.state)

order_events = sa.Table(
    "order_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.id"), nullable=False),
    _tenant(),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("from_state", sa.Text),
    sa.Column("to_state", sa.Text, nullable=False),
    sa.Column("actor_kind", sa.Text, nullable=False),
    sa.Column("actor_id", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("courier_id", sa.Text),
    sa.Column("courier_pos", Geometry("POINT", srid=4326, spatial_index=False)),
    sa.Column("data", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.UniqueConstraint("order_id", "seq"),
)

offers = sa.Table(
    "offers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    _tenant(),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("courier_id", sa.Text, sa.ForeignKey("couriers.id"), nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    _now(),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("responded_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(_in("state", ("pending", "accepted", "rejected", "expired")), name="state"),
)
sa.Index(None, offers.c.courier_id, offers.c.state)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _tenant(),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("courier_id", sa.Text, sa.ForeignKey("couriers.id"), nullable=False),
    sa.Column("offer_id", sa.Text, sa.ForeignKey("offers.id")),
    sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("released_at", sa.DateTime(timezone=True)),
)
sa.Index(None, assignments.c.order_id)

# One row per `payments.intents.PaymentIntent`; ``version`` makes updates optimistic.
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    _tenant(),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.id"), nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("captured_minor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("refunded_minor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("provider_ref", sa.Text),
    _now(),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("failure_reason", sa.Text),
    sa.Column("cash_courier_id", sa.Text),
    sa.Column("refund_ids", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("seen_updates", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("pending_refunds", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("provider", "provider_ref"),
    sa.CheckConstraint("amount_minor >= 0", name="amount"),
)
sa.Index(None, payments.c.order_id)

payment_events = sa.Table(
    "payment_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("intent_id", sa.Text, sa.ForeignKey("payments.id"), nullable=False),
    _tenant(),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("from_state", sa.Text),
    sa.Column("to_state", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("data", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.UniqueConstraint("intent_id", "seq"),
)

# Double entry, as `payments.ledger`: a journal entry (header, id deterministic so a re-post is a
# no-op) and its postings, whose signed amounts sum to zero per currency (a deferred constraint
# trigger checks at commit). Rows are never updated; a correction is a reversing entry.
journal_entries = sa.Table(
    "journal_entries",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    _tenant(),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),  # epoch seconds exactly as posted
    sa.Column("order_id", sa.Text),
    sa.Column("intent_id", sa.Text),
    sa.Column("reverses", sa.Text, sa.ForeignKey("journal_entries.id"), unique=True),
    sa.Column("meta", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    _now(),
)
sa.Index(None, journal_entries.c.tenant_id, journal_entries.c.order_id)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _tenant(),
    sa.Column("journal_id", sa.Text, sa.ForeignKey("journal_entries.id"), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    _now(),
    sa.Column("account_kind", sa.Text, nullable=False),
    sa.Column("account_holder", sa.Text, nullable=False, server_default=""),
)
sa.Index(None, ledger_entries.c.journal_id)
sa.Index(
    None,
    ledger_entries.c.tenant_id,
    ledger_entries.c.account_kind,
    ledger_entries.c.account_holder,
    ledger_entries.c.currency,
)

# One row per `orders.webhooks.OutboxMessage`, written in the transaction of the state change.
webhook_outbox = sa.Table(
    "webhook_outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _tenant(),
    sa.Column("event_type", sa.Text, nullable=False),
    _now(),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column(
        "next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("message_id", sa.Text, nullable=False, unique=True),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("endpoint_id", sa.Text, nullable=False),
    sa.Column("ordering_key", sa.Text, nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
)
sa.Index(None, webhook_outbox.c.next_attempt_at, postgresql_where=sa.text("delivered_at IS NULL"))
sa.Index(
    None, webhook_outbox.c.endpoint_id, webhook_outbox.c.ordering_key, webhook_outbox.c.sequence
)

# The delivery worker's claim walks only undelivered rows, in queue order.
sa.Index(
    "ix_webhook_outbox_undelivered_heads",
    webhook_outbox.c.endpoint_id,
    webhook_outbox.c.ordering_key,
    webhook_outbox.c.sequence,
    postgresql_where=sa.text("delivered_at IS NULL"),
)

# A tenant's receivers (`orders.webhooks.Endpoint`). The secret is kept as is: signing needs it.
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    _tenant(),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("event_types", ARRAY(sa.Text), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("retry_at", sa.DateTime(timezone=True)),
    sa.Column("disabled_reason", sa.Text),
    _now(),
)
sa.Index(None, webhook_endpoints.c.tenant_id)

# The delivery log: one row per attempt (`orders.webhooks.Attempt`); kept after an endpoint goes.
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _tenant(),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("endpoint_id", sa.Text, nullable=False),
    sa.Column("ordering_key", sa.Text, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
)
sa.Index(None, webhook_attempts.c.tenant_id, webhook_attempts.c.endpoint_id)

TRUNCATE_ORDER = [t.name for t in reversed(metadata.sorted_tables)]
"""Every table, dependents first (tests reset with one TRUNCATE)."""
