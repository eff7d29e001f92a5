"""Wire shapes of the network partner endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from crossbay.usage.records import USAGE_TIME_RANGE, plausible_usage_time

REGION_HELP = (
    "Where the usage happened: hk, mo, cn-gd (Guangdong), cn (rest of the mainland, or province unknown). "
    "Any other value is kept and reported as no_bundle."
)


class UsageRecordIn(BaseModel):
    record_id: str = Field(min_length=1, max_length=128)
    iccid: str = Field(min_length=1, max_length=22)
    started_at: AwareDatetime
    ended_at: AwareDatetime
    region: str = Field(min_length=1, max_length=16, description=REGION_HELP)
    network: str = Field(default="", max_length=64)
    data_bytes: int = Field(default=0, ge=0, le=10**13)
    voice_seconds: int = Field(default=0, ge=0, le=10**7)

    @field_validator("started_at", "ended_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        if not plausible_usage_time(value):
            raise PydanticCustomError("out_of_range", USAGE_TIME_RANGE)
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> UsageRecordIn:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class UsageRecordBatch(BaseModel):
    records: list[UsageRecordIn] = Field(min_length=1, max_length=10_000)


class Charged(BaseModel):
    data_bytes: int
    voice_seconds: int


class UsageRecordResult(BaseModel):
    record_id: str
    result: Literal["rated", "throttled", "over_quota", "no_bundle", "unknown_iccid", "duplicate"]
    charged: Charged


class UsageRecordAnswer(BaseModel):
    results: list[UsageRecordResult]
    summary: dict[str, int]


class CreditSessionCreate(BaseModel):
    session_id: str = Field(min_length=1, max_length=128, description="The network's Diameter Session-Id")
    iccid: str = Field(min_length=1, max_length=22)
    service: Literal["data", "voice"] = "data"
    region: str = Field(min_length=1, max_length=16, description=REGION_HELP)
    requested_units: int | None = Field(default=None, ge=1)


class CreditSessionUpdate(BaseModel):
    request_number: int = Field(ge=1, description="CC-Request-Number: the same number is a retransmission")
    used_units: int = Field(ge=0, description="Units used since the last request (Used-Service-Unit)")
    requested_units: int | None = Field(default=None, ge=1)


class CreditSessionTerminate(BaseModel):
    request_number: int = Field(ge=1)
    used_units: int = Field(ge=0)


class FinalUnit(BaseModel):
    action: Literal["terminate", "throttle"]
    throttle_kbps: int | None


class CreditAnswer(BaseModel):
    session_id: str
    request_number: int
    result_code: int = Field(description="2001 DIAMETER_SUCCESS, 4012 DIAMETER_CREDIT_LIMIT_REACHED")
    result: str
    status: Literal["open", "closed"]
    service: Literal["data", "voice"]
    unit: Literal["bytes", "seconds"]
    granted_units: int
    validity_seconds: int
    final_unit: FinalUnit | None
    used_units_total: int
    charged_units_total: int
