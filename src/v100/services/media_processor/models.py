"""media_processor's tables."""

from sqlalchemy.orm import DeclarativeBase

from v100.kit.db import TYPE_ANNOTATION_MAP, service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata("media_processor")
    type_annotation_map = TYPE_ANNOTATION_MAP
