"""Label formats, registered by name: each reads a case's masks and writes new labelled cases."""
from __future__ import annotations

from data.formats.base import LabelFormat, Labels, LabelWriter
from data.formats.coco import Coco
from data.formats.label_map import LabelMap
from data.formats.masks import BinaryMask, MaskPerClass
from data.formats.polygon_json import PolygonJson
from data.formats.rle_csv import RleCsv
from names import LabelFormat as FormatName

FORMATS: dict[FormatName, type[LabelFormat]] = {
    FormatName.BINARY_MASK: BinaryMask,
    FormatName.MASK_PER_CLASS: MaskPerClass,
    FormatName.LABEL_MAP: LabelMap,
    FormatName.POLYGON_JSON: PolygonJson,
    FormatName.COCO: Coco,
    FormatName.RLE_CSV: RleCsv,
}

__all__ = ["FORMATS", "LabelFormat", "LabelWriter", "Labels"]
